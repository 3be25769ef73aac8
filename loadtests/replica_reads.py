"""What a read replica takes off the primary, and what routing reads to it costs.

    python -m loadtests.replica_reads [--depth 100] [--duration 15] [--read-duration 10] [--rounds 2]

A primary and a hot standby streaming from it (loadtests/replica_pair.py, both on loopback), the counting demo
backend, and two engine instances on the same primary (gunicorn, `--workers` gevent workers): one alone on it
(the cluster's), one with `DATABASE_READ_URL` = the standby. Sessions pre-filled to `--depth` messages. Each
round, for each engine in turn: exchange_cost's send window (wrk streaming sends: with replicas every write also
asks the primary for its read-after token), then wrk reading pages of messages, then session lists. CPU per unit
of each process tree from /proc: the engine, the primary, the standby. Also the standby's replay lag sampled
during the sends (bytes behind and seconds since its last replayed commit), the reads the replica engine
counted by server and reason (`chat_engine_reads_total`), and the most connections it held on each server.
Writes its section of loadtests/reports/<date>/report.md and replica-reads.json.
"""
import datetime
import os
import re
import tempfile
import threading

import psycopg
import requests

from loadtests import exchange_cost as ec
from loadtests.capacity import SESSIONS_PER_CLIENT, read_window
from loadtests.cluster import ROOT, Cluster
from loadtests.replica_pair import StreamingPair
from loadtests.revision_cost import engine_at

SECTION = "replica-reads"
LAG_SQL = ("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) AS bytes, "
           "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) AS seconds")
CONNECTIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'chat-engine%'"


class Sampler(threading.Thread):
    """Every 0.2 s while a window runs: the standby's lag behind the primary, and the engines' connections."""

    def __init__(self, pair):
        super().__init__(daemon=True)
        self.pair, self.stopped = pair, threading.Event()
        self.peak = {"lag_bytes": 0, "lag_seconds": 0.0, "primary_connections": 0, "standby_connections": 0}

    def run(self):
        with psycopg.connect(self.pair.primary.url, autocommit=True) as primary, \
                psycopg.connect(self.pair.standby.url, autocommit=True) as standby:
            while not self.stopped.wait(0.2):  # a sampling period, not a synchronisation
                position = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
                lag_bytes, lag_seconds = standby.execute(LAG_SQL, (position,)).fetchone()
                peak = self.peak
                peak["lag_bytes"] = max(peak["lag_bytes"], int(lag_bytes or 0))
                # Seconds since the last replayed commit only mean lag while there is something left to replay.
                if lag_bytes and lag_bytes > 0 and lag_seconds is not None:
                    peak["lag_seconds"] = max(peak["lag_seconds"], float(lag_seconds))
                peak["primary_connections"] = max(peak["primary_connections"],
                                                  primary.execute(CONNECTIONS_SQL).fetchone()[0])
                peak["standby_connections"] = max(peak["standby_connections"],
                                                  standby.execute(CONNECTIONS_SQL).fetchone()[0])

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak


def reads_counted(url):
    """An engine's chat_engine_reads_total: {(server, reason): count}."""
    text = requests.get(url + "/metrics", timeout=10).text
    counts = {}
    for labels, value in re.findall(r"^chat_engine_reads_total\{(.*?)\} (\S+)$", text, re.MULTILINE):
        named = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        counts[(named["server"], named["reason"])] = float(value)
    return counts


def windows(name, url, roles, cluster, wrk, scripts, args):
    """The three windows against one engine: sends, pages, lists."""
    sampler = Sampler(cluster.pair)
    sampler.start()
    counted_before = reads_counted(url)
    sends = ec.measure(f"{name}: sends", url, scripts["prefix"], {"server": roles["engine"], **roles["databases"]},
                       cluster, wrk, scripts["sends"], args)
    peaks = sampler.stop()
    cluster.pair.caught_up()  # each window's reads start from a standby that has everything
    result = {"sends": sends, "peaks_during_sends": peaks}
    sampler = Sampler(cluster.pair)
    sampler.start()
    for kind, targets in (("page", scripts["pages"]), ("list", scripts["lists"])):
        result[kind] = read_window(f"{name}: {kind}", url, targets, {"engine": roles["engine"], **roles["databases"]},
                                   wrk, args)
    result["peaks_during_reads"] = sampler.stop()
    after = reads_counted(url)
    result["reads_counted"] = {f"{server}/{reason}": count - counted_before.get((server, reason), 0)
                               for (server, reason), count in after.items()}
    return result


def run(args):
    wrk = ec.ensure_wrk()
    load_before = os.getloadavg()
    pair = StreamingPair()
    saved = {name: os.environ.get(name) for name in ("DATABASE_URL", "MAX_CONCURRENT_READS_PER_CLIENT")}
    # The cluster migrates and serves the pair's primary; wrk's few clients may read as much as they like.
    os.environ.update(DATABASE_URL=pair.primary.url, MAX_CONCURRENT_READS_PER_CLIENT="0")
    cluster = replica_engine = None
    paths = []
    try:
        cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay,
                             backend_module="loadtests.counting_backend")
        cluster.pair = pair
        replica_engine, replica_url = engine_at(ROOT, DATABASE_READ_URL=pair.standby.url)(
            cluster, args.workers or os.cpu_count(), tempfile.gettempdir())
        alone_url = cluster.instance_urls()[0]
        servers = pair.postmaster_pids()
        databases = {"primary": servers["primary"], "standby": servers["standby"]}
        prefix = f"replica-{args.depth}"
        pairs = ec.create_sessions(alone_url, prefix, ec.sessions_for(args.depth, args.sessions), SESSIONS_PER_CLIENT)
        ec.prefill(cluster.database_url, pairs, args.depth)
        paths.append(ec.write_script(pairs, tempfile.gettempdir(), f"replica-send-{os.getpid()}"))
        scripts = {"prefix": prefix, "sends": paths[-1],
                   "pages": [(f"/api/v1/sessions/{sid}/messages", bearer) for sid, bearer in pairs],
                   "lists": [("/api/v1/sessions?limit=20", bearer) for _, bearer in pairs[::SESSIONS_PER_CLIENT]]}
        pair.caught_up()
        targets = {"primary alone": (alone_url, cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"]),
                   "with a replica": (replica_url, replica_engine.pid)}
        rounds = []
        for number in range(args.rounds):
            for name, (url, pid) in targets.items():
                rounds.append({"target": name, "round": number + 1,
                               **windows(name, url, {"engine": pid, "databases": databases}, cluster, wrk, scripts,
                                         args)})
        return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": ec._commit(),
                "cores": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "params": {k: v for k, v in vars(args).items() if k != "out"}, "sessions": len(pairs),
                "rounds": rounds}
    finally:
        for path in paths:
            os.remove(path)
        if replica_engine is not None:
            ec.stop(replica_engine)
        if cluster is not None:
            cluster.down()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pair.stop()


def _mean(rounds, target, pick):
    values = [pick(r) for r in rounds if r["target"] == target and pick(r) is not None]
    return sum(values) / len(values) if values else None


def section(result):
    params, rounds = result["params"], result["rounds"]
    fmt = ec._fmt
    lines = [f"<!-- {SECTION}:start -->", "", "## Read replicas: what they take off the primary", "",
             f"Measured {result['when']} on `{result['commit']}` by `python -m loadtests.replica_reads --depth "
             f"{params['depth']} --duration {params['duration']} --read-duration {params['read_duration']} --rounds "
             f"{params['rounds']}`: a primary and a hot standby streaming from it (synchronous_commit on, on "
             f"loopback), two engine instances ({params['workers']} gevent workers each) on the same primary, one "
             "alone on it, one with `DATABASE_READ_URL` = the standby (default `READ_MAX_LAG_SECONDS` 5, no "
             f"read-after tokens presented: wrk reads as a client that wrote nothing), {result['sessions']} sessions "
             f"of {params['depth']} messages. Each window in turn: wrk ({params['connections']} connections) "
             f"streaming sends for {params['duration']} s, then pages of messages (the default 100), then session "
             f"lists, {params['read_duration']} s each, after {params['warmup']} s of warm-up. CPU per unit of each "
             f"process tree from /proc. {result['cores']} shared cores; load average "
             f"{result['load_average_before'][0]:.1f} → {result['load_average_after'][0]:.1f}.", "",
             "| round | engine | exchanges | CPU ms/exchange: engine / primary / standby | page reads | CPU ms/page: "
             "engine / primary / standby | list reads | CPU ms/list: engine / primary / standby | standby lag during "
             "sends: bytes / s (peak) | connections on primary / standby (peak) | reads counted (server/reason) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rounds:
        sends, page, listing = r["sends"]["cpu_ms_per_exchange"], r["page"]["cpu_ms_per_read"], \
            r["list"]["cpu_ms_per_read"]
        peaks, reading = r["peaks_during_sends"], r["peaks_during_reads"]
        connections = (max(peaks["primary_connections"], reading["primary_connections"]),
                       max(peaks["standby_connections"], reading["standby_connections"]))
        counted = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["reads_counted"].items()) if v) or "none"
        lines.append(
            f"| {r['round']} | {r['target']} | {r['sends']['exchanges']} | {fmt(sends['server'])} / "
            f"{fmt(sends['primary'])} / {fmt(sends['standby'])} | {r['page']['reads']} ({r['page']['non_2xx']} "
            f"non-2xx) | {fmt(page['engine'])} / {fmt(page['primary'])} / {fmt(page['standby'])} | "
            f"{r['list']['reads']} ({r['list']['non_2xx']} non-2xx) | {fmt(listing['engine'])} / "
            f"{fmt(listing['primary'])} / {fmt(listing['standby'])} | {peaks['lag_bytes']:,} / "
            f"{peaks['lag_seconds']:.2f} | {connections[0]} / {connections[1]} | {counted} |")

    def ratio(kind, role):
        def pick(r):
            return r[kind]["cpu_ms_per_exchange" if kind == "sends" else "cpu_ms_per_read"][role]
        return fmt(ec._ratio(_mean(rounds, "with a replica", pick), _mean(rounds, "primary alone", pick)))
    lines += ["",
              f"- Primary CPU per page read, with a replica / alone: **{ratio('page', 'primary')}×**; per session "
              f"list: **{ratio('list', 'primary')}×**.",
              f"- Engine CPU per page read, with a replica / alone: {ratio('page', 'engine')}×; per list: "
              f"{ratio('list', 'engine')}× (the replica's check, one statement per read).",
              f"- Sends, with a replica / alone: primary CPU per exchange {ratio('sends', 'primary')}× (each write's "
              f"read-after token is one more statement on the primary), engine {ratio('sends', 'server')}×.",
              "", f"<!-- {SECTION}:end -->"]
    return "\n".join(lines)


def add_arguments(parser):
    ec.add_arguments(parser)
    parser.set_defaults(duration=15, rounds=2, depth=100, sessions=200)
    parser.add_argument("--read-duration", type=int, default=10, help="measured seconds per kind of read")


def main():
    ec.wrk_benchmark_main(__doc__, add_arguments, run, SECTION, section)


if __name__ == "__main__":
    main()
