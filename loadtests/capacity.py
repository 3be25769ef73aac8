"""The figures the capacity model (docs/scaling.md) needs that the other benchmarks do not report.

    python -m loadtests.capacity [--depths 2,100,1000] [--duration 15] [--read-duration 10] [--rounds 2]

For each conversation length, on a fresh cluster (PostgreSQL, the counting demo backend, one engine instance
of `--workers` gevent workers reached directly), sessions pre-filled to that length as in exchange_cost:

- sends: exchange_cost's own window (wrk streaming sends): CPU per exchange of the engine and of PostgreSQL
  (/proc, per process tree: CPU seconds, not wall time, so other tenants of the machine are not counted),
  bytes stored per exchange (tables with their TOAST, indexes), WAL bytes per exchange (what each replica
  receives), and the most database connections the instance held at once against the bound its settings give;
- reads: a window of wrk on a page of messages (`GET /sessions/{id}/messages`, the default 100) and one on a
  client's session list (`GET /sessions`, 10 sessions): CPU per read of the engine and of PostgreSQL, the
  figures that say what a read replica takes off the primary.

Writes its section of loadtests/reports/<date>/report.md and capacity.json.
"""
import datetime
import os
import tempfile
import threading

import psycopg

from loadtests import exchange_cost as ec
from loadtests.cluster import Cluster

READ_SCRIPT = """
local targets = {%(targets)s}
function request()
  local target = targets[math.random(#targets)]
  return wrk.format("GET", target[1], {["Authorization"] = target[2]})
end
""" + ec.WRK_DONE

SESSIONS_PER_CLIENT = 10
CONNECTIONS_SQL = """SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity
                      WHERE backend_type = 'client backend' AND application_name LIKE 'chat-engine%'"""


def connection_bound(workers):
    """What one instance may open: per worker its pool, its reserved pool and its LISTEN connection
    (docs/operations.md, Sizing), from the settings the cluster's engine runs with."""
    from app.config import Config
    config = Config()
    return workers * (config.db_pool_max_size + config.db_pool_reserved_size + 1)


class ConnectionPeak(threading.Thread):
    """The most connections the engine held at once (open, and busy in a statement) while the window ran."""

    def __init__(self, database_url):
        super().__init__(daemon=True)
        self.url, self.stopped, self.peak = database_url, threading.Event(), {"open": 0, "busy": 0}

    def run(self):
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.wait(0.2):  # a sampling period, not a synchronisation
                opened, busy = conn.execute(CONNECTIONS_SQL).fetchone()
                self.peak = {"open": max(self.peak["open"], opened), "busy": max(self.peak["busy"], busy)}

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak


def content_bytes(database_url, prefix, since):
    """Bytes of content the exchanges' messages carry (pg_column_size, compressed as stored), per exchange."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT sum(pg_column_size(m.content))::float / nullif(count(*) FILTER (WHERE m.role = 'assistant'), 0) "
            "FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.client_id LIKE %s AND m.created_at > %s",
            (prefix + "-%", since)).fetchone()[0]


def read_window(name, url, targets, roles, wrk, args):
    """CPU per read of each role, over one measured wrk window of GETs after a warm-up."""
    script = ec.write_script(targets, tempfile.gettempdir(), f"capacity-{name}-{os.getpid()}", READ_SCRIPT)
    try:
        print(f"  {name}: warm-up {args.warmup} s, then {args.read_duration} s…", flush=True)
        ec.run_wrk(wrk, url, script, args.warmup, args.connections, args.threads)
        before = ec.tree_ticks(roles)
        summary = ec.run_wrk(wrk, url, script, args.read_duration, args.connections, args.threads)
        after = ec.tree_ticks(roles)
    finally:
        os.remove(script)
    reads = summary["requests"]
    return {"reads": reads, "non_2xx": summary["non_2xx"], "reads_per_s": reads / summary["duration_s"],
            "p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"],
            "cpu_ms_per_read": {role: (after[role] - before[role]) * ec.TICK_MS / reads if reads else None
                                for role in roles}}


def run_depth(depth, args, wrk):
    # A few clients send all of wrk's reads: their per-client cap on concurrent reads (429 past it) is lifted
    # for the engine started here (it inherits this environment), and restored for whoever runs next.
    saved = os.environ.get("MAX_CONCURRENT_READS_PER_CLIENT")
    os.environ["MAX_CONCURRENT_READS_PER_CLIENT"] = "0"
    try:
        cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay,
                             backend_module="loadtests.counting_backend")
    finally:
        if saved is None:
            os.environ.pop("MAX_CONCURRENT_READS_PER_CLIENT")
        else:
            os.environ["MAX_CONCURRENT_READS_PER_CLIENT"] = saved
    script = None
    try:
        url = cluster.instance_urls()[0]
        roles = {"engine": cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"],
                 "PostgreSQL": ec.postmaster_pid(cluster), "backend": cluster.state["pids"]["demo_backend"]}
        prefix = f"capacity-{depth}"
        pairs = ec.create_sessions(url, prefix, ec.sessions_for(depth, args.sessions), SESSIONS_PER_CLIENT)
        ec.prefill(cluster.database_url, pairs, depth)
        script = ec.write_script(pairs, tempfile.gettempdir(), f"capacity-send-{os.getpid()}")
        pages = [(f"/api/v1/sessions/{sid}/messages", bearer) for sid, bearer in pairs]
        lists = [("/api/v1/sessions?limit=20", bearer) for _, bearer in pairs[::SESSIONS_PER_CLIENT]]
        rounds = []
        for _ in range(args.rounds):  # the same windows again: how far one window's figure moves
            with psycopg.connect(cluster.database_url, autocommit=True) as conn:
                since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            sampler = ConnectionPeak(cluster.database_url)
            sampler.start()
            sends = ec.measure("sends", url, prefix, {"server": roles["engine"], "PostgreSQL": roles["PostgreSQL"],
                                                      "backend": roles["backend"]}, cluster, wrk, script, args)
            sends["connections_peak"] = sampler.stop()
            sends["content_bytes_per_exchange"] = content_bytes(cluster.database_url, prefix, since)
            rounds.append({"sends": sends,
                           "reads": {"message page": read_window("message page", url, pages, roles, wrk, args),
                                     "session list": read_window("session list", url, lists, roles, wrk, args)}})
        workers = cluster.state["workers"] or os.cpu_count()
        return {"depth": depth, "sessions": len(pairs), "workers": workers,
                "connection_bound": connection_bound(workers), "rounds": rounds}
    finally:
        if script:
            os.remove(script)
        cluster.down()


def run(args):
    wrk = ec.ensure_wrk()
    load_before = os.getloadavg()
    depths = []
    for depth in (int(d) for d in str(args.depths).split(",")):
        print(f"depth {depth}:", flush=True)
        depths.append(run_depth(depth, args, wrk))
    return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": ec._commit(),
            "cores": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "params": {k: v for k, v in vars(args).items() if k != "out"}, "depths": depths}


def figures(entry, number=0):
    """The figures docs/scaling.md cites (and the smoke test checks), of one round at a depth."""
    measured = entry["rounds"][number]
    sends, storage = measured["sends"], measured["sends"]["storage"]
    tables = storage["tables"].values()
    cpu = sends["cpu_ms_per_exchange"]
    return {"exchanges": sends["exchanges"], "engine_ms": cpu["server"], "postgres_ms": cpu["PostgreSQL"],
            "backend_ms": cpu["backend"],
            "stored_bytes": sum(t["bytes_per_1000"] for t in tables) / 1000,
            "messages_bytes": storage["tables"]["messages"]["bytes_per_1000"] / 1000,
            "toast_bytes": sum(t.get("toast_bytes_per_1000", 0) for t in tables) / 1000,
            "wal_bytes": storage["wal_bytes_per_exchange"], "content_bytes": sends["content_bytes_per_exchange"],
            "connections_open": sends["connections_peak"]["open"],
            "connections_busy": sends["connections_peak"]["busy"],
            "connection_bound": entry["connection_bound"],
            **{f"{kind}_{role}_ms": read["cpu_ms_per_read"][role] for kind, read in
               (("page", measured["reads"]["message page"]), ("list", measured["reads"]["session list"]))
               for role in ("engine", "PostgreSQL")}}


def section(result):
    params = result["params"]
    lines = ["<!-- capacity:start -->", "", "## Capacity figures: CPU, bytes and connections per exchange and per read",
             "",
             f"Measured {result['when']} on `{result['commit']}` by `python -m loadtests.capacity --depths "
             f"{params['depths']} --duration {params['duration']} --rounds {params['rounds']} --read-duration "
             f"{params['read_duration']}`: per depth a fresh cluster, one engine instance ({params['workers']} gevent "
             f"workers, default pools), sessions pre-filled to the depth ({SESSIONS_PER_CLIENT} per client), wrk "
             f"({params['connections']} connections) streaming sends for {params['duration']} s after "
             f"{params['warmup']} s of warm-up (exchange_cost's window), then reading pages of messages (the "
             f"default 100), then session lists, {params['read_duration']} s each; each further round runs the "
             "three windows again on the same sessions. CPU is each process tree's own, "
             f"from /proc. {result['cores']} shared cores, 1-minute load average "
             f"{result['load_average_before'][0]:.1f} at the start and {result['load_average_after'][0]:.1f} at "
             "the end.", "",
             "| messages in the conversation | round | exchanges | engine CPU ms/exchange | "
             "PostgreSQL CPU ms/exchange | "
             "backend CPU ms/exchange | bytes stored/exchange (of which `messages`; TOAST) | WAL bytes/exchange | "
             "content bytes/exchange | peak connections open / busy (bound) | page read: engine / PostgreSQL "
             "CPU ms | session list: engine / PostgreSQL CPU ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for entry, number in ((e, n) for e in result["depths"] for n in range(len(e["rounds"]))):
        f = figures(entry, number)
        lines.append(
            f"| {entry['depth']:,} | {number + 1} | {f['exchanges']} | {f['engine_ms']:.2f} | {f['postgres_ms']:.2f} | "
            f"{f['backend_ms']:.2f} | {f['stored_bytes']:,.0f} ({f['messages_bytes']:,.0f}; {f['toast_bytes']:,.0f}) | "
            f"{f['wal_bytes']:,.0f} | {ec._fmt(f['content_bytes'], '{:,.0f}')} | {f['connections_open']} / "
            f"{f['connections_busy']} ({f['connection_bound']}) | {f['page_engine_ms']:.2f} / "
            f"{f['page_PostgreSQL_ms']:.2f} | {f['list_engine_ms']:.2f} / {f['list_PostgreSQL_ms']:.2f} |")
    lines += ["", "- Bytes stored: growth of every table (with its TOAST) and its indexes over the send window, per "
              "exchange (a user message and its reply); it includes the reply's chunk log, which the sweep prunes "
              "after its grace (`reply_chunks`, see the by-depth section's storage table), and grows by whole 8 KiB "
              "pages, so a short window rounds it. Content bytes: what the exchange's two messages carry "
              "(`pg_column_size`), the part that grows with real replies.",
              "- WAL bytes: `pg_current_wal_lsn()` over the window (full-page writes on, as in production): what "
              "each streaming replica receives, and what the primary writes, per exchange.",
              "- Connections: the engine's own (`application_name` `chat-engine…`), sampled every 0.2 s over the "
              "warm-up and the window; the bound is workers × (`DB_POOL_MAX_SIZE` + `DB_POOL_RESERVED_SIZE` + 1 "
              "listener). Reads: `MAX_CONCURRENT_READS_PER_CLIENT` lifted (0) so wrk's few clients are not refused; "
              "pages still queue for the worker's read slots (`MAX_CONCURRENT_READS_PER_WORKER`, 5) behind wrk's "
              "connections, and one that waits past `DB_POOL_TIMEOUT_SECONDS` is refused (503): CPU per read counts "
              "every answer. Non-2xx answers: " + ", ".join(
                  f"{e['depth']:,}: {r['reads']['message page']['non_2xx']} / {r['reads']['session list']['non_2xx']}"
                  for e in result["depths"] for r in e["rounds"]) + " (pages / lists, by depth and round).", "",
              "<!-- capacity:end -->"]
    return "\n".join(lines)


def add_arguments(parser):
    ec.add_arguments(parser)  # exchange_cost's window: --duration, --warmup, --connections, --workers, --sessions …
    parser.set_defaults(duration=15, rounds=2)
    parser.add_argument("--read-duration", type=int, default=10, help="measured seconds per kind of read")
    parser.set_defaults(depths="2,100,1000")


def main():
    ec.wrk_benchmark_main(__doc__, add_arguments, run, "capacity", section)


if __name__ == "__main__":
    main()
