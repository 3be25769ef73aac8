"""PostgreSQL CPU per exchange with the per-session tables hash-partitioned by session, against the plain layout,
and against the schema before the session keys (migration 026), in one run.

    python -m loadtests.partition_cost [--exchanges 1000] [--depths 2,100,1000] [--rounds 3] [--partitions 16]
                                       [--before f9752e0]

statement_cost's method (its docstring says why): the engine's exchange as SQL alone (transaction 1: `send_turn`;
the reply's end: `finish_live_reply` with one chunk row), on sessions pre-filled to each depth, one connection a
side, each side's CPU that of its own server process (/proc/<pid>/schedstat), the sides alternating exchange by
exchange. Three sides, three databases of one embedded server (a fresh server per depth):

- `before`: the schema and statements of `--before` (a git revision: migrations up to 025, its functions, its
  `finish_live_reply`), as the single-node default was before this change;
- `keyed`: this tree's schema, plain (the single-node default now);
- `partitioned`: this tree's schema with the per-session tables in `--partitions` hash partitions
  (partition_by_session, docs/partitioning.md).

Ratios keyed/before (what the new keys cost the default) and partitioned/keyed (what partitioning costs; flat
across depths when every statement of the exchange prunes to one partition). The generic plans of the hot statements
on the partitioned side are checked for pruning too (the partitions each reads). Writes its section of
loadtests/reports/<date>/partitioning.md.
"""
import os
import re
import subprocess
import tempfile
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app import migrations
from app.chat.replies import chunk_rows
from app.db import Queries, queries as engine_sql
from launch.embedded_postgres import EmbeddedPostgres
from loadtests.cluster import ROOT
from loadtests.conversations import write_chains
from loadtests.statement_cost import (
    ANSWER,
    CHUNKS,
    QUESTION,
    SESSION_TYPE,
    SESSIONS,
    _cpu_ns,
    exchange_arguments,
    exchanges_at,
    measured,
    median_ratio,
    run_and_report,
)

SIDES = ("before", "keyed", "partitioned")


def _before_sql(revision):
    """The sql/ directory of `revision`, unpacked into a temporary directory."""
    target = tempfile.mkdtemp(prefix="partition-cost-before-")
    archive = subprocess.run(["git", "-C", ROOT, "archive", revision, "sql"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return os.path.join(target, "sql")


def _apply(url, sql_dir):
    """What app/migrations.upgrade does, from another sql/ directory: every migration, then every function file."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL check_function_bodies = off")
        for sub in ("migrations", "functions"):
            for name in sorted(f for f in os.listdir(os.path.join(sql_dir, sub)) if f.endswith(".sql")):
                with open(os.path.join(sql_dir, sub, name), encoding="utf-8") as handle:
                    conn.execute(handle.read())


def _prefill(url, depth, background):
    """The sessions the exchanges run in, and `background` sessions of 10 messages that no exchange touches: a
    database of other conversations, so that each partition holds what a table of a live service does. On a few
    hundred rows split 16 ways the planner sees partitions of a page or two and makes generic plans that scan
    them whole, which stay in the plan cache as the partitions grow (measured: the partitioned side's cost rose
    from 1.2 to 2.2 ms an exchange over 3,000 exchanges at 2 messages, its sequential reads tenfold)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO session_types (id, name, webhook_url) VALUES (%s, 'partition cost', "
                     "'http://127.0.0.1:9/')", (SESSION_TYPE,))
        sessions, others = [uuid.uuid4() for _ in range(SESSIONS)], [uuid.uuid4() for _ in range(background)]
        with conn.cursor().copy("COPY sessions (id, client_id, session_type_id) FROM STDIN") as copy:
            for session_id in sessions + others:
                copy.write_row((session_id, "engine" if session_id in sessions else "background", SESSION_TYPE))
        write_chains(conn, sessions, depth, seed=depth)
        write_chains(conn, others, 10, seed=-depth)
        conn.execute("ANALYZE")
    return sessions


def _exchange(conn, statements, session_id):
    reply_id = uuid.uuid4()
    with conn.transaction():
        conn.execute("SELECT * FROM send_turn(%s, 'engine', true, %s, %s, %s, '{}', false, 20)",
                     (session_id, uuid.uuid4(), reply_id, QUESTION), prepare=True).fetchall()
    with conn.transaction():
        statements.finish_live_reply(conn, message_id=reply_id, session_id=session_id, content=ANSWER,
                                     is_complete=True, metadata=Jsonb({"usage": 1}), batches=chunk_rows(0, CHUNKS))


def _databases(server, depth, args, before_sql):
    """{side: (url, statements, sessions)}: the three databases, migrated and pre-filled alike."""
    databases = {}
    with psycopg.connect(server.url, autocommit=True) as conn:
        for side in SIDES:
            conn.execute(f'CREATE DATABASE "{side}"')
    for side in SIDES:
        url = make_conninfo(server.url, dbname=side)
        if side == "before":
            _apply(url, before_sql)
            statements = Queries(os.path.join(before_sql, "queries"))
        else:
            migrations.upgrade(url, partitions=args.partitions if side == "partitioned" else None)
            statements = engine_sql
        databases[side] = (url, statements, _prefill(url, depth, args.background))
    return databases


def _rounds(databases, exchanges, args):
    connections = {side: psycopg.connect(url, autocommit=True, row_factory=dict_row)
                   for side, (url, _, _) in databases.items()}
    try:
        pids = {side: conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
                for side, conn in connections.items()}
        for index in range(20):  # warm the plan caches (psycopg prepares after 5 runs: generic plans from then on)
            for side, (_, statements, sessions) in databases.items():
                _exchange(connections[side], statements, sessions[index % len(sessions)])
        windows, done = [], 20
        for number in range(args.rounds):
            before = {side: _cpu_ns(pid) for side, pid in pids.items()}
            for index in range(done, done + exchanges):
                for side, (_, statements, sessions) in databases.items():
                    _exchange(connections[side], statements, sessions[index % len(sessions)])
            done += exchanges
            for side, pid in pids.items():
                cpu = (_cpu_ns(pid) - before[side]) / 1e6 / exchanges
                windows.append({"side": side, "round": number + 1, "pg_cpu_ms": cpu})
                print(f"  {side} (round {number + 1}): {cpu:.3f} ms of PostgreSQL CPU per exchange", flush=True)
        return windows
    finally:
        for conn in connections.values():
            conn.close()


# The hot statements, as a prepared statement runs them once its plan is generic: each must prune to one partition
# (at plan time, or at execution: `Subplans Removed`).
HOT = {
    "owner_path (send_turn's walk)": ("SELECT * FROM owner_path($1::uuid)", lambda s: (s,)),
    "busy check (send_turn)": ("SELECT l.message_id FROM live_replies l JOIN messages m ON m.session_id = $1::uuid "
                               "AND m.id = l.message_id WHERE l.session_id = $1::uuid AND m.is_active",
                               lambda s: (s,)),
    # A worker's renewal names the replies of many sessions: `= ANY(array)` prunes only at plan time (PostgreSQL
    # 15), so its generic plan probes every partition's key, once per renewal round (not per exchange).
    "lease renewal (across sessions)": ("SELECT l.message_id FROM live_replies l "
                                        "WHERE l.session_id = ANY($1::uuid[]) AND l.message_id = ANY($2::uuid[])",
                                        lambda s: ([s], [uuid.uuid4()])),
}


def plan_pruning(url, session_id):
    """{statement: the partitions its generic plan read}; one each when pruning works."""
    found = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        for number, (label, (statement, values)) in enumerate(HOT.items()):
            conn.execute(f"PREPARE hot{number} AS {statement}")
            arguments = sql.SQL(", ").join(sql.Literal(value) for value in values(session_id))
            plan = [row[0] for row in conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE {}({})").format(
                    sql.Identifier(f"hot{number}"), arguments))]
            found[label] = executed_partitions(plan)
    return found


def executed_partitions(plan_lines):
    """The partitions a plan (EXPLAIN ANALYZE text) read: scans of `<table>_p<n>` not marked never executed (a
    ModifyTable lists every partition it may write, pruned or not: not a read)."""
    return sorted({match.group(1) for line in plan_lines if "never executed" not in line
                   for match in [re.search(r"Scan\b.*? on (\w+_p\d+)\b", line)] if match})


def run(args):
    before_sql = _before_sql(args.before)
    depths = []
    for depth in args.depths:
        server = EmbeddedPostgres(data_dir=tempfile.mkdtemp(prefix="partition-cost-"), fast_unsafe=True)
        server.start()
        try:
            databases = _databases(server, depth, args, before_sql)
            print(f"depth {depth}:", flush=True)
            exchanges = exchanges_at(depth, args.exchanges)
            entry = {"depth": depth, "exchanges": exchanges, "windows": _rounds(databases, exchanges, args)}
            url, _, sessions = databases["partitioned"]
            entry["pruning"] = plan_pruning(url, sessions[0])
            print(f"  generic plans, partitions read: {entry['pruning']}", flush=True)
            depths.append(entry)
        finally:
            server.stop()
    return measured(args, depths)


def section(result):
    params = result["params"]
    depths = ",".join(str(d) for d in params["depths"])
    lines = ["<!-- partition-cost:start -->", "", "## Partitioned by session against plain, statements alone", "",
             f"Measured {result['when']} by `python -m loadtests.partition_cost --exchanges {params['exchanges']} "
             f"--depths {depths} --rounds {params['rounds']} --partitions {params['partitions']} "
             f"--before {params['before']} --background {params['background']}`: statement_cost's method (the "
             "engine's exchange as SQL alone, `send_turn` then `finish_live_reply` with one chunk row, 100 sessions a "
             f"side pre-filled to the depth, beside {params['background']:,} sessions of 10 messages no exchange "
             "touches, "
             "each side's CPU from /proc/<pid>/schedstat of its one server process, the sides alternating exchange "
             "by exchange) with three sides, three databases of one server: `before`, the schema and statements of "
             f"{params['before']} (before migration 026's session keys); `keyed`, this release plain (the "
             f"single-node default); `partitioned`, this release with the per-session tables in "
             f"{params['partitions']} hash partitions by session. The median round's ratio counts.", "",
             "| messages | exchanges a round | round | before ms | keyed ms | partitioned ms | keyed / before | "
             "partitioned / keyed |", "|---|---|---|---|---|---|---|---|"]
    for entry in result["depths"]:
        for number in range(1, params["rounds"] + 1):
            cpu = {w["side"]: w["pg_cpu_ms"] for w in entry["windows"] if w["round"] == number}
            lines.append(f"| {entry['depth']:,} | {entry['exchanges']} | {number} | {cpu['before']:.3f} | "
                         f"{cpu['keyed']:.3f} | {cpu['partitioned']:.3f} | {cpu['keyed'] / cpu['before']:.2f}× | "
                         f"{cpu['partitioned'] / cpu['keyed']:.2f}× |")
    lines.append("")
    for entry in result["depths"]:
        keyed, partitioned = (median_ratio(entry["windows"], side, against)
                              for side, against in (("keyed", "before"), ("partitioned", "keyed")))
        lines.append(f"- **{entry['depth']:,} messages: keyed / before {keyed:.2f}×, partitioned / keyed "
                     f"{partitioned:.2f}×** (the median round)")
    lines += ["", "Generic plans of the hot statements on the partitioned side (`plan_cache_mode = "
              "force_generic_plan`, as psycopg's prepared statements run after their fifth call), the partitions "
              "each one read:", "",
              "| messages | statement | partitions read |", "|---|---|---|"]
    for entry in result["depths"]:
        lines += [f"| {entry['depth']:,} | {label} | {', '.join(parts) or 'none'} |"
                  for label, parts in entry["pruning"].items()]
    lines += ["", "<!-- partition-cost:end -->"]
    return "\n".join(lines)


def main():
    parser = exchange_arguments(__doc__, [2, 100, 1000])
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--before", default="f9752e0", help="the git revision whose schema is the `before` side")
    parser.add_argument("--background", type=int, default=2000,
                        help="sessions of 10 messages beside those of the exchanges (see _prefill)")
    run_and_report(parser.parse_args(), run, section, "partition-cost", "partitioning.md")


if __name__ == "__main__":
    main()
