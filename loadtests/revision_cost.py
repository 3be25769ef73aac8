"""What a change costs: the engine at another revision against this checkout, in one run, same load.

    python -m loadtests.revision_cost --rev f9752e0 [--duration 20] [--rounds 2] [--depth 0]

exchange_cost's windows (wrk streaming `POST /messages/send` over fresh sessions; CPU per exchange of each
role from /proc), with this checkout's engine (the cluster's instance) against an engine started from a git
worktree of `--rev` in place of the baseline relay, on the same PostgreSQL, backend and settings, the two
windows alternating `--rounds` times. The revision runs on this checkout's schema, so it must not predate a
migration its code contradicts. Writes its section of loadtests/reports/<date>/report.md.
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile

from launch.embedded_postgres import free_port
from loadtests import exchange_cost
from loadtests.cluster import JWT_SECRET, ROOT, _wait
from loadtests.report_sections import write_section

SECTION = "revision-cost"


def engine_at(tree, **settings):
    """A start_baseline for exchange_cost.run: gunicorn serving `tree`'s engine, set as the cluster's own (plus
    `settings`)."""
    def start(cluster, workers, log_dir):
        port = free_port()
        env = {**os.environ, "DATABASE_URL": cluster.database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING",
               "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), "WORKER_CONNECTIONS": "10000",
               "DB_POOL_MAX_SIZE": str(cluster.state["db_pool"]), "MAX_STREAMS_PER_WORKER": "5000",
               "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **settings}
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-engine-rev-metrics-")  # as the cluster's
        log = open(os.path.join(log_dir, "revision-engine.log"), "ab")
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=tree,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        _wait(url + "/health/live")
        return process, url
    return start


def section(result, rev):
    rounds, params = result["rounds"], result["params"]
    here = [r for r in rounds if r["target"] == "engine"]
    there = [r for r in rounds if r["target"] == "baseline"]

    def mean(rows, pick):
        values = [pick(r) for r in rows if pick(r) is not None]
        return sum(values) / len(values) if values else None

    server = (mean(here, lambda r: r["own_cpu_ms_per_exchange"]), mean(there, lambda r: r["own_cpu_ms_per_exchange"]))
    database = (mean(here, lambda r: r["cpu_ms_per_exchange"].get("PostgreSQL")),
                mean(there, lambda r: r["cpu_ms_per_exchange"].get("PostgreSQL")))
    errors = sum(r["wrk"]["non_2xx"] + r["wrk"]["connect"] + r["wrk"]["read"] + r["wrk"]["write"]
                 + r["wrk"]["timeout"] for r in rounds)
    lines = [f"<!-- {SECTION}:start -->", "", f"## This checkout against `{rev}`, same run", "",
             f"Measured {result['when']} on `{result['commit']}` by `python -m loadtests.revision_cost --rev {rev} "
             f"--duration {params['duration']} --rounds {params['rounds']} --depth {params['depth']}`: exchange_cost's "
             f"windows ({params['connections']} wrk connections streaming sends over {params['sessions']} fresh "
             f"sessions per window, {params['depth']} messages in each before the window, gunicorn with "
             f"{params['workers']} gevent workers), this checkout's engine and `{rev}`'s in turn, on one "
             f"PostgreSQL and one backend. {result['cores']} shared cores; load average "
             f"{result['load_average_before'][0]:.1f} → {result['load_average_after'][0]:.1f}.", "",
             "| window | target | exchanges | server CPU ms/exchange | PostgreSQL CPU ms/exchange |",
             "|---|---|---|---|---|"]
    for number, r in enumerate(rounds, 1):
        lines.append(f"| {number} | {'this checkout' if r['target'] == 'engine' else rev} | {r['exchanges']} | "
                     f"{exchange_cost._fmt(r['own_cpu_ms_per_exchange'])} | "
                     f"{exchange_cost._fmt(r['cpu_ms_per_exchange'].get('PostgreSQL'))} |")
    lines += ["", f"- **server CPU per exchange, this checkout / {rev}: "
              f"{exchange_cost._fmt(exchange_cost._ratio(*server))}×**; **PostgreSQL: "
              f"{exchange_cost._fmt(exchange_cost._ratio(*database))}×**; failed responses: {errors}.", "",
              f"<!-- {SECTION}:end -->"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    exchange_cost.add_arguments(parser)
    parser.add_argument("--rev", required=True, help="the revision to compare against (a commit, tag or branch)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", datetime.date.today().isoformat())
    os.makedirs(out_dir, exist_ok=True)
    tree = tempfile.mkdtemp(prefix="chat-engine-rev-")
    subprocess.run(["git", "worktree", "add", "--detach", tree, args.rev], cwd=ROOT, check=True, capture_output=True)
    try:
        result = exchange_cost.run(args, out_dir, start_baseline=engine_at(tree))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
    text = section(result, args.rev)
    print(f"report: {write_section(out_dir, SECTION, text, result)}")
    print(text)


if __name__ == "__main__":
    main()
