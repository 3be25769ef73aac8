"""Cost per streamed exchange: the engine against the same-stack baseline relay, in one run, same load.

    python -m loadtests.exchange_cost                       # 25 s per target, writes the report section
    python -m loadtests.exchange_cost --duration 20 --profile
    python -m loadtests.exchange_cost --depths 2,100,1000   # the same at three conversation lengths

One PostgreSQL, one NDJSON backend on loopback (the demo backend, 20 ms between words, counting the
TCP connections it accepts), one engine instance (gunicorn, 2 gevent workers, reached directly) and
the baseline relay (loadtests/relay.py under gunicorn, 2 gevent workers). wrk (installed with apt-get
when missing and running as root) sends `message send` requests over random sessions with a fixed
number of connections, to each target in turn, after a short warm-up. For each measured window:

- CPU per streamed exchange per role, from /proc: the process trees of the engine (or relay), of
  PostgreSQL's postmaster, and of the backend; wrk's own usage from wait4();
- streamed exchanges = assistant messages completed in the window (from the database), and the
  exchanges/s they make;
- new TCP connections the backend accepted per 1,000 exchanges.

CPU per exchange is steadier than throughput on a shared machine: it does not depend on how much of
the CPU the other tenants left us. The results go to loadtests/reports/<date>/report.md (a section
between markers, replaced on each run) and exchange-cost.json next to it.
"""
import argparse
import collections
import datetime
import functools
import gzip
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import jwt
import psycopg
import requests

from launch.embedded_postgres import free_port
from loadtests.cluster import HEALTHY_TYPE, JWT_SECRET, ROOT, STATE_DIR, Cluster
from loadtests.conversations import WORDS, point_relay_leaves, write_chains
from loadtests.report_sections import report_dir, write_section

COUNTER_PATH = "_bench/connections"
SECTION_START, SECTION_END = "<!-- exchange-cost:start -->", "<!-- exchange-cost:end -->"
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")

# wrk's closing line, read by run_wrk; every script ends with it (sends here, reads in loadtests/capacity.py).
WRK_DONE = """
function done(summary, latency, requests)
  io.write(string.format('WRK_RESULT {"requests": %%d, "duration_s": %%.3f, "non_2xx": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "timeout": %%d, "p50_ms": %%.1f, "p95_ms": %%.1f}\\n', summary.requests,
    summary.duration / 1e6, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""
WRK_SCRIPT = """
local targets = {%(targets)s}
local words = {%(words)s}
local threads = 0
function setup(thread) threads = threads + 1; thread:set("number", threads) end
function init(args) math.randomseed(os.time() * 100 + number) end
local function word() return words[math.random(#words)] end
function request()
  local target = targets[math.random(#targets)]
  local body = '{"session_id":"' .. target[1] .. '","content":"' .. word() .. ' ' .. word() .. ' ' .. word() ..
               ' ' .. word() .. '","if_busy":"parallel"}'
  return wrk.format("POST", "/api/v1/messages/send",
                    {["Content-Type"] = "application/json", ["Authorization"] = target[2]}, body)
end
""" + WRK_DONE


class WrkMissing(RuntimeError):
    pass


def ensure_wrk():
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise WrkMissing("wrk is missing: install it (apt-get install -y wrk) and retry")
    print("installing wrk from the system's packages…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True)
    if installed.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is missing and apt-get could not install it")
    return found


# -- CPU from /proc, by process tree --------------------------------------------------------------------

def _processes():
    """{pid: (parent pid, ticks)}; ticks include reaped children (cutime/cstime), so work done by a
    process that exited inside the window still counts, once, in its parent."""
    table = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return table


def tree_ticks(roots):
    """{role: CPU ticks of the role's root process and all its descendants}."""
    table = _processes()
    children = collections.defaultdict(list)
    for pid, (parent, _) in table.items():
        children[parent].append(pid)
    totals = {}
    for role, root in roots.items():
        pending, total = [root], 0
        while pending:
            pid = pending.pop()
            if pid in table:
                total += table[pid][1]
                pending.extend(children[pid])
        totals[role] = total
    return totals


# -- the pieces ---------------------------------------------------------------------------------------------

def postmaster_pid(cluster):
    embedded = cluster.state.get("embedded_postgres")
    if not embedded:
        return None
    with open(os.path.join(embedded["data_dir"], "postmaster.pid")) as handle:
        return int(handle.readline())


def start_relay(cluster, workers, log_dir):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": cluster.database_url, "JWT_SECRET": JWT_SECRET,
           "RELAY_BACKEND_URL": cluster.state["backend_url"], "DB_POOL_MAX_SIZE": str(cluster.state["db_pool"])}
    log = open(os.path.join(log_dir, "relay.log"), "ab")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", str(workers),
                                "--worker-connections", "10000", "--graceful-timeout", "5", "-b", f"127.0.0.1:{port}",
                                "loadtests.relay:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the baseline relay exited; see relay.log")
        try:
            requests.get(url + "/", timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the baseline relay did not start")


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def create_sessions(engine_url, prefix, count, per_client=10):
    """(session id, "Bearer token") pairs, created through the engine's API (the relay uses the same
    tables); a client owns `per_client` sessions."""
    pairs, http = [], requests.Session()
    for index in range(count):
        client = f"{prefix}-{index // per_client}"
        bearer = "Bearer " + jwt.encode({"sub": client, "exp": int(time.time()) + 86400}, JWT_SECRET,
                                        algorithm="HS256")
        response = http.post(engine_url + "/api/v1/sessions", json={"session_type_id": HEALTHY_TYPE},
                             headers={"Authorization": bearer}, timeout=30)
        response.raise_for_status()
        pairs.append((response.json()["session_id"], bearer))
    return pairs


def prefill(database_url, pairs, depth):
    """Give each session a conversation of `depth` messages before the window (loadtests/conversations.py);
    the relay's leaf pointers follow, and the table is analyzed."""
    if depth <= 0:
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        leaves = write_chains(conn, [uuid.UUID(public_id[-36:]) for public_id, _ in pairs], depth, seed=depth)
        point_relay_leaves(conn, leaves)
        conn.execute("ANALYZE messages")


TABLES_SQL = """
SELECT t.relname AS name, t.n_tup_ins AS inserted, t.n_tup_upd AS updated, t.n_tup_hot_upd AS hot_updated,
       t.n_tup_del AS deleted, t.n_live_tup AS live_rows, pg_table_size(t.relid) AS table_bytes,
       pg_indexes_size(t.relid) AS index_bytes,
       coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast_bytes,
       (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid) AS indexes
  FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid WHERE t.schemaname = 'public'"""
INDEXES_SQL = """
SELECT i.indexrelname AS name, i.relname AS table_name, i.idx_scan AS scans, pg_relation_size(i.indexrelid) AS bytes
  FROM pg_stat_user_indexes i WHERE i.schemaname = 'public'"""


def storage_stats(database_url):
    """Per table: rows written so far and sizes; per index: scans so far (PostgreSQL's cumulative counters,
    flushed by each backend within a second)."""
    time.sleep(1.1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        columns = ("inserted", "updated", "hot_updated", "deleted", "live_rows", "table_bytes", "index_bytes",
                   "toast_bytes", "indexes")
        tables = {row[0]: dict(zip(columns, row[1:], strict=True)) for row in conn.execute(TABLES_SQL)}
        indexes = {row[0]: {"table": row[1], "scans": row[2], "bytes": row[3]} for row in conn.execute(INDEXES_SQL)}
        wal = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]
    return {"tables": tables, "indexes": indexes, "wal_bytes": int(wal)}


def storage_delta(before, after, exchanges):
    """Rows and index entries written per exchange, bytes grown per 1,000 exchanges (table with its TOAST, and
    indexes), WAL bytes per exchange (what a replica receives), index scans in the window.
    Index entries: an insert or a non-HOT update writes one into each of the table's indexes."""
    tables = {}
    for name, now in after["tables"].items():
        was = before["tables"].get(name, {key: 0 for key in now})
        rows = {key: now[key] - was[key] for key in ("inserted", "updated", "hot_updated", "deleted")}
        entries = (rows["inserted"] + rows["updated"] - rows["hot_updated"]) * now["indexes"]
        tables[name] = {**{f"{key}_per_exchange": value / exchanges for key, value in rows.items()},
                        "index_entries_per_exchange": entries / exchanges,
                        "bytes_per_1000": (now["table_bytes"] + now["index_bytes"] - was["table_bytes"]
                                           - was["index_bytes"]) * 1000 / exchanges,
                        "toast_bytes_per_1000": (now["toast_bytes"] - was.get("toast_bytes", 0)) * 1000 / exchanges,
                        "table_bytes": now["table_bytes"], "index_bytes": now["index_bytes"],
                        "live_rows": now["live_rows"]}
    scans = {name: {"table": now["table"], "scans": now["scans"] - before["indexes"].get(name, {"scans": 0})["scans"],
                    "bytes": now["bytes"]} for name, now in after["indexes"].items()}
    wal = (after["wal_bytes"] - before["wal_bytes"]) / exchanges if "wal_bytes" in before else None
    return {"tables": tables, "index_scans": scans, "wal_bytes_per_exchange": wal}


def prune_everything(database_url):
    """What the sweep prunes, with no grace (the engine's own statements), then VACUUM: sizes after pruning."""
    from app.db import queries as engine_queries
    with psycopg.connect(database_url, autocommit=True) as conn:
        while engine_queries.prune_chunk_logs(conn, grace_seconds=0, limit=10_000):
            pass
        conn.execute("VACUUM messages, reply_chunks, live_replies, idempotency_keys")
    return storage_stats(database_url)


def completed_exchanges(database_url, prefix):
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id "
                            "WHERE s.client_id LIKE %s AND m.role = 'assistant' AND m.is_complete",
                            (prefix + "-%",)).fetchone()[0]


def messages_per_session(database_url, prefix):
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(m.id)::float / nullif(count(DISTINCT s.id), 0) FROM sessions s "
                            "LEFT JOIN messages m ON m.session_id = s.id WHERE s.client_id LIKE %s",
                            (prefix + "-%",)).fetchone()[0]


def accepted_connections(backend_url):
    """Connections the backend accepted so far, not counting this request's own."""
    return requests.get(backend_url + COUNTER_PATH, timeout=10).json()["accepted"] - 1


def write_script(pairs, directory, name, template=WRK_SCRIPT):
    """A wrk script over (session id or path, "Bearer token") pairs."""
    path = os.path.join(directory, f"{name}.lua")
    targets = ", ".join(f'{{"{sid}", "{bearer}"}}' for sid, bearer in pairs)
    with open(path, "w") as handle:
        handle.write(template % {"targets": targets, "words": ", ".join(f'"{w}"' for w in WORDS)})
    return path


def run_wrk(wrk, url, script, duration, connections, threads):
    """wrk's summary and its own CPU ms (from wait4), killed if it outlives its duration by 30 s."""
    reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen([wrk, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                                "--timeout", "30s", "-s", script, url], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    watchdog = threading.Timer(duration + 30, process.kill)
    watchdog.start()
    output = process.stdout.read().decode(errors="replace")
    try:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = status
        cpu_seconds = usage.ru_utime + usage.ru_stime
    except ChildProcessError:
        # Under gevent (the smoke tests run in a patched process) its child watcher may reap wrk first: wrk's
        # usage is then what this process's reaped children gained meanwhile (nothing else ends in a window).
        process.wait()
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = (reaped.ru_utime - reaped_before.ru_utime) + (reaped.ru_stime - reaped_before.ru_stime)
    watchdog.cancel()
    lines = [ln for ln in output.splitlines() if ln.startswith("WRK_RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk gave no result:\n{output}")
    summary = json.loads(lines[-1].split(" ", 1)[1])
    summary["cpu_ms"] = cpu_seconds * 1000
    return summary


def measure(name, url, prefix, roles, cluster, wrk, script, args):
    """One measured window against one target, after a warm-up."""
    print(f"  {name}: warm-up {args.warmup} s, then {args.duration} s…", flush=True)
    run_wrk(wrk, url, script, args.warmup, args.connections, args.threads)
    time.sleep(1)  # let the warm-up's last streams finish before the window opens
    exchanges_before = completed_exchanges(cluster.database_url, prefix)
    storage_before = storage_stats(cluster.database_url)
    connections_before = accepted_connections(cluster.state["backend_url"])
    if args.statements:
        reset_statement_stats(cluster.database_url)
    ticks_before = tree_ticks(roles)
    summary = run_wrk(wrk, url, script, args.duration, args.connections, args.threads)
    ticks_after = tree_ticks(roles)
    connections = accepted_connections(cluster.state["backend_url"]) - connections_before
    time.sleep(1)  # streams cut by wrk's stop may still be saving; neither target is penalised by that
    exchanges = completed_exchanges(cluster.database_url, prefix) - exchanges_before
    storage = storage_delta(storage_before, storage_stats(cluster.database_url), exchanges) if exchanges else None
    statements = top_statements(cluster.database_url, exchanges) if args.statements and exchanges else None
    for row in statements or ():
        print(f"    {row['us_per_exchange']:8.1f} µs {row['calls_per_exchange']:6.2f}× "
              f"{'' if row['toplevel'] else '(nested) '}{row['query']}", flush=True)
    cpu_ms = {role: (ticks_after[role] - ticks_before[role]) * TICK_MS for role in roles}
    cpu_ms["load generator (wrk)"] = summary["cpu_ms"]
    per_exchange = {role: (ms / exchanges if exchanges else None) for role, ms in cpu_ms.items()}
    return {"target": name, "exchanges": exchanges, "seconds": summary["duration_s"],
            "exchanges_per_s": exchanges / summary["duration_s"] if summary["duration_s"] else 0,
            "wrk": summary, "cpu_ms": cpu_ms, "cpu_ms_per_exchange": per_exchange,
            "own_cpu_ms_per_exchange": per_exchange["server"],
            "total_cpu_ms_per_exchange": sum(v for v in per_exchange.values() if v is not None),
            "backend_connections": connections, "storage": storage, "statements": statements,
            "messages_per_session_after": messages_per_session(cluster.database_url, prefix),
            "backend_connections_per_1000": connections * 1000 / exchanges if exchanges else None}


def reset_statement_stats(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def top_statements(database_url, exchanges, limit=15):
    """What PostgreSQL ran in the window (pg_stat_statements, nested statements included), per exchange:
    the statements that took the most time, with how often each ran."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT toplevel, calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC LIMIT %s", (limit,)).fetchall()
    return [{"toplevel": top, "calls_per_exchange": calls / exchanges, "us_per_exchange": ms * 1000 / exchanges,
             "query": query} for top, calls, ms, query in rows]


def profile_engine(engine_pid, url, wrk, script, args, out_dir):
    """py-spy on one engine worker under the same load: the top functions by self time (leads only)."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        return {"skipped": "py-spy is missing (pip install py-spy)"}
    workers = subprocess.run(["pgrep", "-P", str(engine_pid)], capture_output=True, text=True).stdout.split()
    if not workers:
        return {"skipped": "no engine worker found"}
    raw = os.path.join(out_dir, "engine-worker.pyspy.txt")
    seconds = max(args.duration - 5, 5)
    recorder = subprocess.Popen([spy, "record", "--pid", workers[0], "--duration", str(seconds), "--rate", "200",
                                 "--nonblocking", "--format", "raw", "--output", raw], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    run_wrk(wrk, url, script, seconds + 2, args.connections, args.threads)
    try:
        recorder.wait(timeout=60)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait()
    if not os.path.exists(raw):
        return {"skipped": "py-spy recorded nothing (ptrace not permitted?)"}
    own, total = collections.Counter(), 0
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            total += int(count)
            own[re.sub(r":\d+\)$", ")", stack.split(";")[-1])] += int(count)  # per function, not per line
    with open(raw, "rb") as source, gzip.open(raw + ".gz", "wb") as target:  # the stacks, for a flame graph
        shutil.copyfileobj(source, target)
    os.remove(raw)
    return {"worker_pid": int(workers[0]), "samples": total, "seconds": seconds,
            "top_self": [(frame, count / total * 100) for frame, count in own.most_common(args.profile_top)]}


def _commit():
    described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return described.stdout.strip() or "?"


def run(args, out_dir, start_baseline=None):
    """Everything above, on a fresh cluster; returns the results. `start_baseline(cluster, workers, log_dir)`
    -> (process, url): another baseline than the relay (loadtests/revision_cost.py: the engine at another
    revision)."""
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    raw_dir = os.path.join(out_dir, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay,
                         backend_module="loadtests.counting_backend", statement_stats=args.statements)
    relay, scripts = None, []
    try:
        relay, relay_url = (start_baseline or start_relay)(cluster, args.workers, STATE_DIR)
        engine_url = cluster.instance_urls()[0]
        engine_pid = cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"]
        shared = {"PostgreSQL": postmaster_pid(cluster), "backend": cluster.state["pids"]["demo_backend"]}
        shared = {role: pid for role, pid in shared.items() if pid}
        targets = {"engine": (engine_url, engine_pid), "baseline": (relay_url, relay.pid)}
        rounds = []
        for number in range(1, args.rounds + 1):
            for name, (url, pid) in targets.items():
                # Fresh sessions for every window: the history sent grows with each exchange, so both
                # targets start from the same empty conversations.
                prefix = f"bench-{name}-r{number}"
                pairs = create_sessions(engine_url, prefix, args.sessions)
                prefill(cluster.database_url, pairs, args.depth)
                scripts.append(write_script(pairs, tempfile.gettempdir(), f"exchange-cost-{prefix}-{os.getpid()}"))
                rounds.append(measure(name, url, prefix, {"server": pid, **shared}, cluster, wrk, scripts[-1], args))
        after_pruning = prune_everything(cluster.database_url)
        profile = profile_engine(engine_pid, engine_url, wrk, scripts[0], args, raw_dir) if args.profile \
            else None
        return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "params": {k: v for k, v in vars(args).items() if k != "out"}, "cores": os.cpu_count(),
                "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "commit": _commit(), "rounds": rounds, "after_pruning": after_pruning, "profile": profile}
    finally:
        for path in scripts:
            os.remove(path)
        if relay:
            stop(relay)
        cluster.down()


# -- the report ---------------------------------------------------------------------------------------------

def _mean(results, name, pick):
    values = [pick(r) for r in results if r["target"] == name and pick(r) is not None]
    return sum(values) / len(values) if values else None


def _fmt(value, pattern="{:.2f}"):
    return "–" if value is None else pattern.format(value)


def section(result):
    rounds, params = result["rounds"], result["params"]
    roles = ["server", "PostgreSQL", "backend", "load generator (wrk)"]
    titles = {"server": "the server itself (engine / relay)"}
    lines = [SECTION_START, "", "## Cost per streamed exchange: the engine against a same-stack baseline",
             "",
             f"Measured {result['when']} by `python -m loadtests.exchange_cost --duration {params['duration']} "
             f"--rounds {params['rounds']}{' --profile' if params['profile'] else ''}`. One PostgreSQL, one "
             f"NDJSON backend on loopback (the demo backend, {params['backend_delay'] * 1000:.0f} ms between "
             "words; a reply is 6 chunks and a closing event), and wrk "
             f"({params['threads']} threads, {params['connections']} connections) sending `POST "
             f"/api/v1/messages/send` to random sessions among {params['sessions']} per target, "
             f"{params['warmup']} s of warm-up then {params['duration']} s measured per target, each target in "
             f"turn. Both servers are gunicorn with {params['workers']} gevent workers and a pool of up to 10 "
             "database connections per worker. The baseline is `loadtests/relay.py`: JWT check, one SQL "
             "statement for transaction 1 (lock the session, insert the user message and the assistant "
             "placeholder, read the history), the backend's stream relayed as NDJSON with no connection held "
             "(a `requests` session), one UPDATE for transaction 2. No idempotency, limits, leases, metrics "
             "or validation beyond the essentials: a floor.", "",
             f"Code: `{result.get('commit', '?')}`. **Shared machine:** {result['cores']} cores, used at the "
             "same time by other jobs (other helpers' test runs may overlap); 1-minute load average "
             f"{result['load_average_before'][0]:.1f} when the run started and "
             f"{_fmt((result.get('load_average_after') or [None])[0], '{:.1f}')} when it ended (this run's own "
             "load included). Throughput depends on what the other tenants left; CPU per exchange much less "
             "so, and only the processes of this run are counted.", "",
             "To reproduce: `scripts/test tests/functional/operations/test_baseline_relay.py` once (it creates "
             "`.venv`), then "
             f"`.venv/bin/python -m loadtests.exchange_cost --duration {params['duration']} --rounds "
             f"{params['rounds']}{' --profile' if params['profile'] else ''}` as root (wrk is installed with "
             "apt-get when missing; `--profile` needs `.venv/bin/pip install py-spy` and ptrace rights). It "
             "takes about 3 minutes and rewrites this section.", "",
             "| | " + " | ".join(f"{r['target']} (window {i + 1})" for i, r in enumerate(rounds)) + " |",
             "|---|" + "---|" * len(rounds),
             "| streamed exchanges completed | " + " | ".join(f"{r['exchanges']}" for r in rounds) + " |",
             "| exchanges/s | " + " | ".join(f"{r['exchanges_per_s']:.1f}" for r in rounds) + " |",
             "| wrk: responses / non-2xx / socket errors | " + " | ".join(
                 f"{r['wrk']['requests']} / {r['wrk']['non_2xx']} / "
                 f"{r['wrk']['connect'] + r['wrk']['read'] + r['wrk']['write'] + r['wrk']['timeout']}"
                 for r in rounds) + " |",
             "| whole stream p50 / p95 ms (wrk) | " + " | ".join(
                 f"{r['wrk']['p50_ms']:.0f} / {r['wrk']['p95_ms']:.0f}" for r in rounds) + " |",
             "| messages per session at the end (warm-up included; the history grows with it) | " + " | ".join(
                 _fmt(r.get("messages_per_session_after"), "{:.0f}") for r in rounds) + " |"]
    for role in roles:
        lines.append(f"| CPU ms per exchange: {titles.get(role, role)} | " + " | ".join(
            _fmt(r["cpu_ms_per_exchange"].get(role)) for r in rounds) + " |")
    lines += ["| CPU ms per exchange: all roles | " + " | ".join(
                  _fmt(r["total_cpu_ms_per_exchange"]) for r in rounds) + " |",
              "| new TCP connections to the backend (per 1,000 exchanges) | " + " | ".join(
                  f"{r['backend_connections']} ({_fmt(r['backend_connections_per_1000'], '{:.1f}')})"
                  for r in rounds) + " |", ""]
    engine_cpu = _mean(rounds, "engine", lambda r: r["own_cpu_ms_per_exchange"])
    relay_cpu = _mean(rounds, "baseline", lambda r: r["own_cpu_ms_per_exchange"])
    engine_rate = _mean(rounds, "engine", lambda r: r["exchanges_per_s"])
    relay_rate = _mean(rounds, "baseline", lambda r: r["exchanges_per_s"])
    cpu_ratio = engine_cpu / relay_cpu if engine_cpu and relay_cpu else None
    rate_ratio = engine_rate / relay_rate if engine_rate and relay_rate else None
    lines += [f"- **engine / baseline CPU per exchange (the server's own): {_fmt(cpu_ratio)}×** "
              f"({_fmt(engine_cpu)} ms against {_fmt(relay_cpu)} ms; the target: ≤ 1.3×)",
              f"- engine / baseline throughput: **{_fmt(rate_ratio)}×** ({_fmt(engine_rate, '{:.0f}')} against "
              f"{_fmt(relay_rate, '{:.0f}')} exchanges/s; target ≥ 0.8×)",
              "- CPU comes from /proc (utime + stime, reaped children included) of each role's process tree: "
              "the gunicorn master and its workers, PostgreSQL's postmaster and its backends, the backend's "
              "process, and wrk's own usage from wait4(). Exchanges are assistant messages completed in the "
              "window, counted in the database. Connections are the ones the backend accepted in the window.",
              ""]
    profile = result.get("profile")
    if profile and profile.get("top_self"):
        lines += ["### Where an engine worker spends its time (py-spy, leads, not a verdict)", "",
                  f"py-spy sampled one engine worker (pid {profile['worker_pid']}) at 200 Hz for "
                  f"{profile['seconds']} s under the same load, in a separate run after the measured windows "
                  f"({profile['samples']} samples; idle time included, gevent's hub waiting shows as "
                  "`select`/`poll`-like frames). Top functions by self time:", "",
                  "| self % | function (file) |", "|---|---|"]
        lines += [f"| {share:.1f} | `{frame}` |" for frame, share in profile["top_self"]]
        lines.append("")
    elif profile:
        lines += [f"Profile skipped: {profile['skipped']}.", ""]
    lines.append(SECTION_END)
    return "\n".join(lines)


def write(result, out_dir):
    return write_section(out_dir, "exchange-cost", section(result), result)


def wrk_benchmark_main(doc, add_arguments, run, name, section):
    """The command line of a benchmark built on these windows: its arguments (and --out), the run, its section of
    the report; without wrk it says why it skipped."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    try:
        result = run(args)
    except WrkMissing as missing:
        raise SystemExit(f"skipped: {missing}") from None
    print(f"report: {write_section(report_dir(args.out), name, section(result), result)}")
    print(section(result))


def add_arguments(parser):
    parser.add_argument("--duration", type=int, default=25, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="engine, baseline; repeated")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--depth", type=int, default=0,
                        help="messages each session holds before the window (a conversation's length)")
    parser.add_argument("--depths", default=None,
                        help="e.g. 2,100,1000: one run per depth (fewer sessions for deep ones), and the "
                             "depth table of the report")
    parser.add_argument("--workers", type=int, default=2, help="gevent workers of each server")
    parser.add_argument("--backend-delay", type=float, default=0.02)
    parser.add_argument("--profile", action="store_true", help="then py-spy an engine worker")
    parser.add_argument("--statements", action="store_true",
                        help="pg_stat_statements per window: which statements the PostgreSQL CPU went to")
    parser.add_argument("--profile-top", type=int, default=20)


def options(**overrides):
    """The command line's defaults, with overrides (for the benchmark suite)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = parser.parse_args([])
    vars(parsed).update(overrides)
    return parsed


DEPTH_START, DEPTH_END = "<!-- exchange-cost-by-depth:start -->", "<!-- exchange-cost-by-depth:end -->"
MAX_PREFILLED = 60_000  # messages per target: deep conversations get fewer sessions


def sessions_for(depth, wanted):
    return min(wanted, max(30, MAX_PREFILLED // max(depth, 1)))


def run_depths(args, out_dir):
    """One run per depth, each on a fresh cluster."""
    results = []
    for depth in (int(d) for d in args.depths.split(",")):
        print(f"depth {depth}:", flush=True)
        per_depth = argparse.Namespace(**{**vars(args), "depth": depth,
                                          "sessions": sessions_for(depth, args.sessions), "profile": False})
        results.append({"depth": depth, **run(per_depth, out_dir)})
    return {"when": results[0]["when"], "commit": _commit(), "cores": os.cpu_count(),
            "params": {k: v for k, v in vars(args).items() if k != "out"}, "depths": results}


def _ratio(top, bottom):
    return top / bottom if top and bottom else None


def depth_section(result):
    params = result["params"]
    lines = [DEPTH_START, "", "## Cost per streamed exchange by conversation length", "",
             f"Measured {result['when']} on `{result['commit']}` by `python -m loadtests.exchange_cost --depths "
             f"{params['depths']} --duration {params['duration']} --rounds {params['rounds']}`: the run above at "
             "each depth, on a fresh cluster, sessions pre-filled with that many messages of about 300 characters "
             f"(user and assistant in turn; {MAX_PREFILLED:,} messages per target at most, so fewer sessions for "
             "deep conversations) and the baseline relay at the same depth. The baseline reads a path the cheapest "
             "way: walking up from a leaf pointer of its own by primary key, history built in Python. PostgreSQL "
             "CPU per exchange is the headline: it decides how many instances one database can feed.", "",
             "| messages in the conversation (at start → end) | sessions | PostgreSQL CPU ms/exchange: engine / "
             "baseline | ratio | server CPU ms/exchange: engine / baseline | ratio | server + PostgreSQL ratio | "
             "throughput ratio |", "|---|---|---|---|---|---|---|---|"]
    for entry in result["depths"]:
        mean = functools.partial(_mean, entry["rounds"])
        pg = {t: mean(t, lambda r: r["cpu_ms_per_exchange"].get("PostgreSQL")) for t in ("engine", "baseline")}
        own = {t: mean(t, lambda r: r["own_cpu_ms_per_exchange"]) for t in ("engine", "baseline")}
        rate = {t: mean(t, lambda r: r["exchanges_per_s"]) for t in ("engine", "baseline")}
        end = mean("engine", lambda r: r.get("messages_per_session_after"))
        both = {t: (pg[t] or 0) + (own[t] or 0) for t in pg}
        lines.append(
            f"| {entry['depth']:,} → {_fmt(end, '{:,.0f}')} | {entry['params']['sessions']} | "
            f"{_fmt(pg['engine'])} / {_fmt(pg['baseline'])} | **{_fmt(_ratio(pg['engine'], pg['baseline']))}×** | "
            f"{_fmt(own['engine'])} / {_fmt(own['baseline'])} | {_fmt(_ratio(own['engine'], own['baseline']))}× | "
            f"{_fmt(_ratio(both['engine'], both['baseline']))}× | "
            f"{_fmt(_ratio(rate['engine'], rate['baseline']))}× |")
    lines += ["", "Targets: PostgreSQL ≤ 1.0× at every depth, server + PostgreSQL ≤ 1.0× at 1,000, the engine's "
              "own CPU ≤ 1.3×. Each depth's full table (every role, latencies, errors) is in "
              "`exchange-cost-by-depth.json`.", ""]
    lines += storage_lines(result["depths"][-1])
    lines.append(DEPTH_END)
    return "\n".join(lines)


def storage_lines(entry):
    """Writes, growth and index use per exchange in the engine's last window at a depth, and sizes after pruning."""
    engine = [r for r in entry["rounds"] if r["target"] == "engine" and r.get("storage")]
    if not engine:
        return []
    storage, pruned = engine[-1]["storage"], entry.get("after_pruning") or {"tables": {}}
    lines = [f"### Storage per exchange: the engine's window at depth {entry['depth']:,}", "",
             "Rows written per streamed exchange (PostgreSQL's counters over the window), index entries they wrote "
             "(an insert or a non-HOT update writes one into each of the table's indexes), growth per 1,000 "
             "exchanges, and each table's size at the end of the run and after pruning what the sweep prunes "
             "(ended replies' chunk logs, here with no grace) and a VACUUM.", "",
             "| table | inserted / updated (HOT) / deleted per exchange | index entries per exchange | bytes per "
             "1,000 exchanges | table + indexes at the end | live rows | after pruning: rows, table + indexes |",
             "|---|---|---|---|---|---|---|"]
    for name, row in sorted(storage["tables"].items(), key=lambda item: -item[1]["bytes_per_1000"]):
        if not any(row[f"{k}_per_exchange"] for k in ("inserted", "updated", "deleted")):
            continue
        after = pruned["tables"].get(name, {})
        lines.append(
            f"| {name} | {row['inserted_per_exchange']:.2f} / {row['updated_per_exchange']:.2f} "
            f"({row['hot_updated_per_exchange']:.2f}) / {row['deleted_per_exchange']:.2f} | "
            f"{row['index_entries_per_exchange']:.1f} | {row['bytes_per_1000'] / 1024:,.0f} KiB | "
            f"{(row['table_bytes'] + row['index_bytes']) / 2**20:,.1f} MiB | {row['live_rows']:,} | "
            f"{_fmt(after.get('live_rows'), '{:,}')}, "
            f"{_fmt((after['table_bytes'] + after['index_bytes']) / 2**20 if after else None, '{:,.1f}')} MiB |")
    used = sorted((name, row) for name, row in storage["index_scans"].items() if row["scans"])
    unused = sorted(name for name, row in storage["index_scans"].items() if not row["scans"])
    lines += ["", "Indexes the engine's window used (scans): " + ", ".join(
        f"`{name}` ({row['scans']:,})" for name, row in used) + ".",
              "", "Not scanned in the window: " + (", ".join(f"`{name}`" for name in unused) or "none") +
              " (see docs/architecture.md for why each is kept).", ""]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = report_dir(args.out)
    try:
        if args.depths:
            result = run_depths(args, out_dir)
            print(f"report: {write_section(out_dir, 'exchange-cost-by-depth', depth_section(result), result)}")
            print(depth_section(result))
            return
        result = run(args, out_dir)
    except WrkMissing as missing:
        raise SystemExit(f"skipped: {missing}") from None
    print(f"report: {write(result, out_dir)}")
    print(section(result))


if __name__ == "__main__":
    main()
