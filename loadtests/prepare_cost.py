"""What not preparing statements costs: behind a transaction pooler the engine sends every
statement unprepared (psycopg's prepare_threshold=None), since a statement prepared on one server
connection is missing, or already there, on the next. Measured here on a direct connection, the
same engine twice in one run, same load:

    python -m loadtests.prepare_cost --duration 20 --rounds 2

- `prepared`: the default (psycopg prepares a statement server-side after 5 runs);
- `unprepared`: the same engine with DATABASE_DIRECT_URL set to another spelling of the same server,
  which is how the engine learns it is behind a pooler.

CPU per streamed exchange per role from /proc (loadtests/exchange_cost.py does the measuring); the
section goes to loadtests/reports/<date>/report.md.
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile

from launch.embedded_postgres import free_port
from loadtests.cluster import JWT_SECRET, ROOT, STATE_DIR, Cluster, _wait
from loadtests.exchange_cost import (
    _commit,
    _fmt,
    _mean,
    add_arguments,
    create_sessions,
    ensure_wrk,
    measure,
    postmaster_pid,
    stop,
    write_script,
)
from loadtests.report_sections import write_section

SECTION = "prepare-cost"


def start_unprepared(cluster, workers):
    port = free_port()
    other_spelling = cluster.database_url.replace("127.0.0.1", "localhost", 1)
    env = {**os.environ, "DATABASE_URL": cluster.database_url, "DATABASE_DIRECT_URL": other_spelling,
           "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING", "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": str(workers), "DB_POOL_MAX_SIZE": str(cluster.state["db_pool"]),
           "WORKER_CONNECTIONS": "10000", "MAX_STREAMS_PER_WORKER": "5000"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(os.path.join(STATE_DIR, f"engine-unprepared-{port}.log"), "ab")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/health/live")
    return process, url


def run(args):
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay,
                         backend_module="loadtests.counting_backend")
    unprepared, scripts = None, []
    try:
        unprepared, unprepared_url = start_unprepared(cluster, args.workers)
        engine_url = cluster.instance_urls()[0]
        engine_pid = cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"]
        shared = {"PostgreSQL": postmaster_pid(cluster), "backend": cluster.state["pids"]["demo_backend"]}
        targets = {"prepared": (engine_url, engine_pid), "unprepared": (unprepared_url, unprepared.pid)}
        rounds = []
        for number in range(1, args.rounds + 1):
            for name, (url, pid) in targets.items():
                prefix = f"prep-{name}-r{number}"
                pairs = create_sessions(engine_url, prefix, args.sessions)
                scripts.append(write_script(pairs, tempfile.gettempdir(), f"prepare-cost-{prefix}-{os.getpid()}"))
                rounds.append(measure(name, url, prefix, {"server": pid, **shared}, cluster, wrk, scripts[-1], args))
        return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": _commit(),
                "params": vars(args), "cores": os.cpu_count(), "load_average_before": load_before,
                "load_average_after": os.getloadavg(), "rounds": rounds}
    finally:
        for path in scripts:
            os.remove(path)
        if unprepared:
            stop(unprepared)
        cluster.down()


def section(result):
    rounds, params = result["rounds"], result["params"]
    lines = [f"<!-- {SECTION}:start -->", "", "## Statements unprepared (behind a transaction pooler)", "",
             f"Measured {result['when']} (code `{result['commit']}`) by `python -m loadtests.prepare_cost "
             f"--duration {params['duration']} --rounds {params['rounds']}`: the same engine twice on one direct "
             "PostgreSQL, once as usual (psycopg prepares a statement after 5 runs) and once as it runs behind "
             "PgBouncer (`DATABASE_DIRECT_URL` set: nothing prepared), wrk with "
             f"{params['connections']} connections, {params['sessions']} fresh sessions per window. 1-minute load "
             f"average {result['load_average_before'][0]:.1f} at the start (a shared 2-core machine).", "",
             "| | " + " | ".join(f"{r['target']} (window {i + 1})" for i, r in enumerate(rounds)) + " |",
             "|---|" + "---|" * len(rounds),
             "| exchanges/s | " + " | ".join(f"{r['exchanges_per_s']:.1f}" for r in rounds) + " |"]
    for role in ("server", "PostgreSQL"):
        lines.append(f"| CPU ms per exchange: {'engine' if role == 'server' else role} | " + " | ".join(
            _fmt(r["cpu_ms_per_exchange"].get(role)) for r in rounds) + " |")
    ratios = {}
    for role in ("server", "PostgreSQL"):
        on = _mean(rounds, "prepared", lambda r, role=role: r["cpu_ms_per_exchange"].get(role))
        off = _mean(rounds, "unprepared", lambda r, role=role: r["cpu_ms_per_exchange"].get(role))
        ratios[role] = (off / on) if on and off else None
    lines += ["", f"- **unprepared / prepared, PostgreSQL CPU per exchange: {_fmt(ratios['PostgreSQL'])}×**; "
              f"engine CPU: {_fmt(ratios['server'])}×", "", f"<!-- {SECTION}:end -->"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", datetime.date.today().isoformat())
    os.makedirs(out_dir, exist_ok=True)
    result = run(args)
    print(write_section(out_dir, SECTION, section(result), result))


if __name__ == "__main__":
    main()
