"""One thousand concurrent open streams on one instance: memory per open stream, database connections
held, and routing overhead against the backend called directly, in the same run.

    python -m loadtests.open_streams                     # 1,000 streams, replies of 6 chunks 5 s apart
    python -m loadtests.open_streams --streams 300 --backend-delay 2

PostgreSQL, the demo backend (slow: `--backend-delay` seconds between its 6 chunks, the first chunk at
once) and one engine instance (gunicorn, one gevent worker per core, reached directly). This script is
the client: gevent greenlets, one connection each, opened over `--ramp` seconds.

1. Idle: the engine's RSS (sum over gunicorn's master and workers, from /proc).
2. Engine: N streams through `POST /api/v1/messages/send` (N sessions, 10 per client). When every
   stream has its first chunk, all N are open at once: the engine's RSS and the database connections
   in use are sampled then. Each stream is read to its end.
3. Direct: the same N streams straight to the backend (`message.new`, same payload shape).
Time to first chunk is measured per stream from the request sent to its first chunk line; the routing
overhead is engine TTFC − direct TTFC at the same percentile. Every reply must be stored complete.
"""
from gevent import monkey

monkey.patch_all()  # before requests and psycopg: the client's greenlets must not block each other

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

from loadtests.cluster import ROOT, Cluster  # noqa: E402
from loadtests.exchange_cost import completed_exchanges, create_sessions  # noqa: E402
from loadtests.report_sections import write_section  # noqa: E402

MESSAGE_PREFIX = "gts.hyperspot.chat_engine.entities.message.v1~"


def raise_open_files_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers started next
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def tree_rss_kib(root):
    """RSS of a process and its descendants, in KiB (shared pages count once per process)."""
    parents, rss = {}, {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        parents[int(name)] = int(fields["PPid"])
        rss[int(name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += rss.get(pid, 0)
        pending.extend(child for child, parent in parents.items() if parent == pid)
    return total


def connections_in_use(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        busy, open_ = conn.execute("SELECT count(*) FILTER (WHERE state <> 'idle') AS busy, count(*) AS open "
                            "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                            "AND pid <> pg_backend_pid()").fetchone()
    return {"busy": busy, "open": open_}


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else None


class Streams:
    """N concurrent streams; `first` is set once every stream has its first chunk (or has failed)."""

    def __init__(self, count):
        self.count = count
        self.ttfc_ms, self.failures, self.completed = [], [], 0
        self.first = gevent.event.Event()

    def _first_seen(self):
        if len(self.ttfc_ms) + len(self.failures) >= self.count:
            self.first.set()

    def run_one(self, url, body, headers, is_chunk):
        http = requests.Session()
        started = time.perf_counter()
        seen_first = False
        try:
            with http.post(url, data=body, headers=headers, stream=True, timeout=(30, 120)) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}")
                ended = False
                for line in response.iter_lines():
                    event = json.loads(line) if line else {}
                    if not seen_first and is_chunk(event):
                        seen_first = True
                        self.ttfc_ms.append((time.perf_counter() - started) * 1000)
                        self._first_seen()
                    if event.get("type") == "complete":
                        ended = True
                    elif event.get("type") == "error":
                        raise RuntimeError(event.get("error_code"))
                if not ended:
                    raise RuntimeError("stream ended without complete")
                self.completed += 1
        except Exception as exc:  # noqa: BLE001 - every failure is counted and named in the report
            self.failures.append(f"{type(exc).__name__}: {exc}"[:120])
            if not seen_first:
                self._first_seen()
        finally:
            http.close()

    def run(self, requests_to_send, ramp_seconds, on_all_open):
        greenlets = []
        for url, body, headers, is_chunk in requests_to_send:
            greenlets.append(gevent.spawn(self.run_one, url, body, headers, is_chunk))
            gevent.sleep(ramp_seconds / max(len(requests_to_send), 1))
        self.first.wait()
        sample = on_all_open()
        gevent.joinall(greenlets)
        return sample


def engine_requests(url, pairs):
    def is_chunk(event):
        return event.get("type") == "chunk"
    return [(url + "/api/v1/messages/send", json.dumps({"session_id": session_id, "content": "hello there"}),
             {"Authorization": bearer, "Content-Type": "application/json"}, is_chunk) for session_id, bearer in pairs]


def direct_requests(backend_url, count):
    def is_chunk(event):
        return event.get("type") == "chunk"
    payloads = []
    for _ in range(count):
        payloads.append((backend_url, json.dumps({
            "event": "message.new", "session_id": "gts.hyperspot.chat_engine.entities.session.v1~" + str(uuid.uuid4()),
            "message_id": MESSAGE_PREFIX + str(uuid.uuid4()), "session_metadata": {}, "enabled_capabilities": [],
            "message": {"role": "user", "content": "hello there"}, "history": [],
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat()}), {"Content-Type": "application/json"},
            is_chunk))
    return payloads


def summary(streams):
    return {"streams": streams.count, "completed": streams.completed, "failures": len(streams.failures),
            "failure_examples": sorted(set(streams.failures))[:5],
            "ttfc_ms": {"p50": percentile(streams.ttfc_ms, 0.50), "p95": percentile(streams.ttfc_ms, 0.95),
                        "p99": percentile(streams.ttfc_ms, 0.99)}}


def run(args):
    os.environ.pop("DEMO_WEBHOOK_SECRET", None)  # the direct calls are not signed: the backend must not ask
    limit = raise_open_files_limit()
    cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay)
    try:
        url = cluster.instance_urls()[0]
        engine_pid = cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"]
        prefix = f"open-{int(time.time())}"
        pairs = create_sessions(url, prefix, args.streams)
        gevent.sleep(2)  # let the workers settle after the session burst before the idle sample
        idle_kib = tree_rss_kib(engine_pid)
        load_before = os.getloadavg()[0]

        engine = Streams(args.streams)
        open_sample = engine.run(engine_requests(url, pairs), args.ramp, lambda: {
            "rss_kib": tree_rss_kib(engine_pid), "db": connections_in_use(cluster.database_url),
            "open_at": time.strftime("%H:%M:%S")})
        stored_complete = completed_exchanges(cluster.database_url, prefix)

        direct = Streams(args.streams)
        direct.run(direct_requests(cluster.state["backend_url"], args.streams), args.ramp, lambda: None)
        return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "params": vars(args), "cores": os.cpu_count(), "open_files_limit": limit,
                "load_average_before": load_before, "workers": cluster.state["workers"] or os.cpu_count(),
                "engine": summary(engine), "direct": summary(direct), "replies_stored_complete": stored_complete,
                "rss_idle_kib": idle_kib, "rss_open_kib": open_sample["rss_kib"],
                "db_connections_while_open": open_sample["db"]}
    finally:
        cluster.down()


def section(result):
    engine, direct = result["engine"], result["direct"]
    per_stream = (result["rss_open_kib"] - result["rss_idle_kib"]) / result["params"]["streams"]
    overhead = {key: engine["ttfc_ms"][key] - direct["ttfc_ms"][key]
                for key in ("p50", "p95", "p99") if engine["ttfc_ms"][key] is not None
                and direct["ttfc_ms"][key] is not None}
    params = result["params"]
    lines = ["<!-- open-streams:start -->", "", "## Open streams: memory and routing overhead", "",
             f"Measured {result['when']} by `python -m loadtests.open_streams --streams {params['streams']} "
             f"--backend-delay {params['backend_delay']} --ramp {params['ramp']}`: one engine instance "
             f"({result['workers']} gevent workers, reached directly), the demo backend streaming 6 chunks "
             f"{params['backend_delay']} s apart (the first at once), {params['streams']} streams opened over "
             f"{params['ramp']} s by gevent greenlets and held open together, then the same number straight to "
             f"the backend. Shared 2-core machine (load average {result['load_average_before']:.1f} at the start).",
             "", "| | engine | backend directly |", "|---|---|---|",
             f"| streams completed / failed | {engine['completed']} / {engine['failures']} | "
             f"{direct['completed']} / {direct['failures']} |"]
    lines += [f"| time to first chunk {key} ms | {engine['ttfc_ms'][key]:.1f} | {direct['ttfc_ms'][key]:.1f} |"
              for key in ("p50", "p95", "p99") if key in overhead]
    lines += ["",
              f"- **Routing overhead** (engine − direct, same percentile): p50 {overhead.get('p50', 0):.1f} ms, "
              f"**p95 {overhead.get('p95', 0):.1f} ms**, p99 {overhead.get('p99', 0):.1f} ms.",
              f"- **Memory per open stream: {per_stream:.0f} KiB** (engine RSS {result['rss_idle_kib'] / 1024:.1f} MiB "
              f"idle → {result['rss_open_kib'] / 1024:.1f} MiB with all {params['streams']} open; RSS summed over "
              f"gunicorn's processes).",
              f"- Database connections while all streams were open: {result['db_connections_while_open']['open']} "
              f"open, {result['db_connections_while_open']['busy']} busy (streams hold none).",
              f"- Replies stored complete: {result['replies_stored_complete']} of {params['streams']}.",
              ""]
    if engine["failure_examples"] or direct["failure_examples"]:
        lines += ["Failures: " + "; ".join(engine["failure_examples"] + direct["failure_examples"]), ""]
    lines.append("<!-- open-streams:end -->")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--backend-delay", type=float, default=5.0, help="seconds between the backend's chunks")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the streams are opened")
    parser.add_argument("--workers", type=int, default=None, help="engine workers (default: one per core)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", datetime.date.today().isoformat())
    os.makedirs(out_dir, exist_ok=True)
    result = run(args)
    print(write_section(out_dir, "open-streams", section(result), result))
    print(section(result))


if __name__ == "__main__":
    main()
