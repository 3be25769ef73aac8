# Chat Engine image. `runtime` runs the engine (gunicorn, gevent workers) or the demo backend;
# `loadtest` adds Locust and the load-test tooling; `pgbouncer` is the optional transaction pooler. Migrations are a separate command:
#   docker run --rm -e DATABASE_URL=… chat-engine flask --app wsgi db upgrade
# PgBouncer in transaction mode for the pooled topology (compose.pgbouncer.yaml, deploy/k8s/pgbouncer):
# Debian's package, the one the tests run (tests/support/pgbouncer.py). Its config is mounted at run time.
FROM debian:bookworm-slim AS pgbouncer
RUN apt-get update \
    && apt-get install -y --no-install-recommends pgbouncer=1.18.0-1+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --no-create-home pgbouncer
USER 10002
EXPOSE 6432
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    BIND=0.0.0.0:8000 PROMETHEUS_MULTIPROC_DIR=/tmp/chat-engine-metrics
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY app ./app
COPY sql ./sql
COPY demo_backend ./demo_backend
COPY wsgi.py gunicorn.conf.py log_redaction.py ./
RUN useradd --system --uid 10001 --home /app chatengine
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]

FROM runtime AS loadtest
USER 0
COPY requirements-dev.txt .
RUN pip install -r requirements-dev.txt
COPY launch ./launch
COPY loadtests ./loadtests
USER 10001
CMD ["locust", "-f", "loadtests/locustfile.py"]
