# Chat Engine image. `runtime` runs the engine (gunicorn, gevent workers) or the demo backend;
# `loadtest` adds Locust and the load-test tooling. Migrations are a separate command:
#   docker run --rm -e DATABASE_URL=… chat-engine flask --app wsgi db upgrade
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
