"""PostgreSQL CPU per exchange of the engine's own statements against the baseline relay's, in isolation.

    python -m loadtests.statement_cost [--exchanges 1000] [--depths 2,1000] [--rounds 3] [--functions] [--variants]

One embedded PostgreSQL, no HTTP, no backend, no engine process: one connection per side runs the SQL a
streamed exchange costs, the engine's (transaction 1: `send_turn`; the reply's end: `finish_live_reply`
with one chunk row) and the relay's (`relay_start`, `relay_finish`), one exchange of each in turn, on
sessions pre-filled to each of `--depths` messages (a fresh server per depth; at 100 messages and more,
a fifth of `--exchanges` per round: an exchange there costs ten times as much). Each side's CPU is its
server process's own, in nanoseconds (/proc/<pid>/schedstat), so nothing else on the machine is
counted; and since the sides alternate exchange by exchange, whatever else the shared machine does
slows both alike (measuring one side's window, then the other's, moved the ratio by ±15% between
rounds; alternating, by ±3%). The place to find out which statement costs what; `exchange_cost`
measures the whole system under load. With `--functions`, PostgreSQL's own per-function timings
(track_functions) are printed for the engine's functions. Writes its section of
loadtests/reports/<date>/report.md.
"""
import argparse
import datetime
import os
import re
import tempfile
import uuid

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app import migrations
from app.chat.replies import chunk_rows
from app.db import Queries, queries as engine_sql
from launch.embedded_postgres import EmbeddedPostgres
from loadtests.cluster import ROOT
from loadtests.conversations import point_relay_leaves, write_chains
from loadtests.report_sections import write_section

RELAY_SQL = Queries(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql"))
SESSION_TYPE = "gts.hyperspot.chat_engine.session_types.statement_cost.v1~"
REPLY = "You said a question ok"
SESSIONS = 100


def _cpu_ns(pid):
    """CPU time a process has run, in nanoseconds (the scheduler's own count, finer than /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/schedstat") as handle:
        return int(handle.read().split()[0])


def _prefill(conn, depth, variants=False):
    """SESSIONS sessions for each side, each a chain of `depth` messages; the relay's leaf pointers."""
    conn.execute("INSERT INTO session_types (id, name, webhook_url) VALUES (%s, 'statement cost', "
                 "'http://127.0.0.1:9/')", (SESSION_TYPE,))
    RELAY_SQL.relay_schema(conn)
    sides = {}
    for side in [*EXCHANGES, *(VARIANTS if variants else ())]:
        sides[side] = [uuid.uuid4() for _ in range(SESSIONS)]
        for session_id in sides[side]:
            conn.execute("INSERT INTO sessions (id, client_id, session_type_id) VALUES (%s, %s, %s)",
                         (session_id, side, SESSION_TYPE))
    point_relay_leaves(conn, write_chains(conn, [s for each in sides.values() for s in each], depth, seed=depth))
    if variants:
        _create_variant_functions(conn)
    conn.execute("ANALYZE")
    return sides


QUESTION = Jsonb([{"type": "text", "text": "a question"}])
ANSWER = Jsonb([{"type": "text", "text": REPLY}])
CHUNKS = [{"type": "text", "content": word + " "} for word in REPLY.split()]


def _send(conn, session_id, client_id, function="send_turn"):
    """Transaction 1 as the engine runs it (sql/queries/messages.sql: send_turn), or through a variant."""
    reply_id = uuid.uuid4()
    with conn.transaction():
        conn.execute(f"SELECT * FROM {function}(%s, %s, true, %s, %s, %s, '{{}}', false, 20)",
                     (session_id, client_id, uuid.uuid4(), reply_id, QUESTION), prepare=True).fetchall()
    return reply_id


def _engine_exchange(conn, session_id):
    reply_id = _send(conn, session_id, "engine")
    with conn.transaction():
        engine_sql.finish_live_reply(conn, message_id=reply_id, session_id=session_id, content=ANSWER,
                                     is_complete=True, metadata=Jsonb({"usage": 1}), batches=chunk_rows(0, CHUNKS))


# --variants: the engine's exchange with parts left out, to say what each part costs (not a working engine).
CLAIM_AND_STORE = """WITH claimed AS (DELETE FROM live_replies WHERE session_id = %(session_id)s AND message_id = %(id)s
                 RETURNING message_id)
UPDATE messages m SET content = %(content)s, is_complete = true, metadata = m.metadata || %(metadata)s,
       updated_at = clock_timestamp()
  FROM claimed WHERE m.id = claimed.message_id AND m.session_id = %(session_id)s"""
STORE = """UPDATE messages SET content = %(content)s, is_complete = true, metadata = metadata || %(metadata)s,
       updated_at = clock_timestamp() WHERE id = %(id)s AND session_id = %(session_id)s"""


def _without_chunks_and_touch(conn, session_id):
    reply_id = _send(conn, session_id, "no-chunk-row")
    with conn.transaction():
        conn.execute(CLAIM_AND_STORE, {"id": reply_id, "session_id": session_id, "content": ANSWER,
                                       "metadata": Jsonb({"usage": 1})}, prepare=True)


def _without_live_row(conn, session_id):
    reply_id = _send(conn, session_id, "no-live-row", function="send_turn_without_live_row")
    with conn.transaction():
        conn.execute(STORE, {"id": reply_id, "session_id": session_id, "content": ANSWER,
                             "metadata": Jsonb({"usage": 1})}, prepare=True)


def _create_variant_functions(conn):
    """send_turn without its live row, made from the function's own definition (so it follows send_turn)."""
    definition = conn.execute("SELECT pg_get_functiondef('send_turn'::regproc) AS sql").fetchone()["sql"]
    variant, found = re.subn(r"INSERT INTO live_replies .*?;", "SELECT bool_or(true) INTO v_lapsed FROM turn;",
                             definition, flags=re.S)
    if found != 1:
        raise SystemExit("send_turn's live-row INSERT not found: update loadtests/statement_cost.py")
    conn.execute(variant.replace(".send_turn(", ".send_turn_without_live_row(", 1))


def _relay_exchange(conn, session_id):
    reply_id = uuid.uuid4()
    with conn.transaction():
        RELAY_SQL.relay_start(conn, session_id=session_id, client_id="relay", user_id=uuid.uuid4(),
                              reply_id=reply_id, content=QUESTION)
    with conn.transaction():
        RELAY_SQL.relay_finish(conn, reply_id=reply_id, session_id=session_id, metadata=Jsonb({"usage": 1}),
                               content=ANSWER)


EXCHANGES = {"engine": _engine_exchange, "relay": _relay_exchange}
VARIANTS = {"no-chunk-row": _without_chunks_and_touch, "no-live-row": _without_live_row}
VARIANT_LABELS = {"no-chunk-row": "the engine without its chunk row and the session's `updated_at`",
                  "no-live-row": "… and without the live row"}


def _rounds(url, sides, exchanges, args):
    """PostgreSQL CPU ms per exchange of each side, per round: one connection a side (plans cached after
    its first calls), the sides alternating exchange by exchange."""
    runs = {**EXCHANGES, **(VARIANTS if args.variants else {})}
    connections = {side: psycopg.connect(url, autocommit=True, row_factory=dict_row) for side in runs}
    try:
        pids = {side: conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
                for side, conn in connections.items()}
        if args.functions:
            connections["engine"].execute("SET track_functions = 'all'")
        for side, run in runs.items():
            for index in range(20):  # warm the plan caches
                run(connections[side], sides[side][index % len(sides[side])])
        windows, done = [], 20
        for number in range(args.rounds):
            before = {side: _cpu_ns(pid) for side, pid in pids.items()}
            for index in range(done, done + exchanges):
                for side, run in runs.items():
                    run(connections[side], sides[side][index % len(sides[side])])
            done += exchanges
            for side, pid in pids.items():
                cpu = (_cpu_ns(pid) - before[side]) / 1e6 / exchanges
                windows.append({"side": side, "round": number + 1, "pg_cpu_ms": cpu, "functions": []})
                print(f"  {side} (round {number + 1}): {cpu:.3f} ms of PostgreSQL CPU per exchange", flush=True)
        if args.functions:
            windows[-len(runs)]["functions"] = _function_timings(connections["engine"])
        return windows
    finally:
        for conn in connections.values():
            conn.close()


def _function_timings(conn):
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT funcname AS function, calls, total_time / calls AS total_ms, "
                        "self_time / calls AS self_ms FROM pg_stat_user_functions "
                        "WHERE calls > 0 ORDER BY total_time DESC").fetchall()
    return [{**row, "total_ms": float(row["total_ms"]), "self_ms": float(row["self_ms"])} for row in rows]


def exchanges_at(depth, exchanges):
    return exchanges if depth < 100 else max(exchanges // 5, 20)


def run(args):
    depths = []
    for depth in args.depths:
        server = EmbeddedPostgres(data_dir=tempfile.mkdtemp(prefix="statement-cost-"), fast_unsafe=True)
        server.start()
        try:
            migrations.upgrade(server.url)
            with psycopg.connect(server.url, autocommit=True, row_factory=dict_row) as conn:
                sides = _prefill(conn, depth, args.variants)
            print(f"depth {depth}:", flush=True)
            exchanges = exchanges_at(depth, args.exchanges)
            depths.append({"depth": depth, "exchanges": exchanges,
                           "windows": _rounds(server.url, sides, exchanges, args)})
        finally:
            server.stop()
    return measured(args, depths)


def measured(args, depths):
    """A run's result: when, its arguments, and per depth its windows."""
    return {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "params": {k: v for k, v in vars(args).items() if k != "out"}, "depths": depths}


def median_ratio(windows, side="engine", against="relay"):
    cpu = {(w["side"], w["round"]): w["pg_cpu_ms"] for w in windows}
    ratios = sorted(cpu[(side, r)] / cpu[(against, r)] for s, r in cpu if s == side)
    return ratios[len(ratios) // 2]


def section(result):
    params = result["params"]
    depths = ",".join(str(d) for d in params["depths"])
    lines = ["<!-- statement-cost:start -->", "", "## PostgreSQL CPU per exchange, statements alone", "",
             f"Measured {result['when']} by `python -m loadtests.statement_cost --exchanges {params['exchanges']} "
             f"--depths {depths} --rounds {params['rounds']}`: a connection per side runs an exchange's SQL "
             "back to back, the engine's (`send_turn`, `finish_live_reply` with one chunk row) and the baseline "
             "relay's, one exchange of each in turn, on sessions pre-filled to the depth (100 sessions a side; "
             "every round adds two messages to each per 100 exchanges); each side's CPU from "
             "/proc/<pid>/schedstat of its one server process. The median round's ratio counts. Both sides' "
             "messages go through the same table, indexes and triggers; what the engine writes that the floor "
             "does not: the reply's live row (inserted, then deleted at its end), its chunk row, the session's "
             "`updated_at`.", "",
             "| messages | exchanges a round | round | engine ms | baseline ms | ratio |", "|---|---|---|---|---|---|"]
    for entry in result["depths"]:
        for number in range(1, params["rounds"] + 1):
            cpu = {w["side"]: w["pg_cpu_ms"] for w in entry["windows"] if w["round"] == number}
            lines.append(f"| {entry['depth']:,} | {entry['exchanges']} | {number} | {cpu['engine']:.3f} | "
                         f"{cpu['relay']:.3f} | {cpu['engine'] / cpu['relay']:.2f}× |")
    lines.append("")
    lines += [f"- **{entry['depth']:,} messages: engine / baseline {median_ratio(entry['windows']):.2f}×** "
              "(the median round)" for entry in result["depths"]]
    lines.append("")
    if params.get("variants"):
        lines += ["With `--variants`, the same run measured the engine's exchange with parts left out (not a working "
                  "engine: what each part costs), the median round's ratio against the same baseline:", "",
                  "| messages | " + " | ".join(VARIANT_LABELS.values()) + " |", "|---|" + "---|" * len(VARIANTS)]
        lines += [f"| {entry['depth']:,} | " + " | ".join(f"{median_ratio(entry['windows'], side):.2f}×"
                                                           for side in VARIANTS) + " |" for entry in result["depths"]]
        lines.append("")
    timed = [w for entry in result["depths"] for w in entry["windows"] if w["functions"]]
    if timed:
        lines += ["With `--functions` (track_functions on the engine's connection only, which slows that side: "
                  "not for the ratios), PostgreSQL's timings of the engine's functions at the last depth:", "",
                  "| function (engine) | calls | total ms a call | self ms a call |", "|---|---|---|---|"]
        lines += [f"| `{t['function']}` | {t['calls']} | {t['total_ms']:.4f} | {t['self_ms']:.4f} |"
                  for t in timed[-1]["functions"]]
        lines.append("")
    lines.append("<!-- statement-cost:end -->")
    return "\n".join(lines)


def exchange_arguments(doc, depths):
    """The arguments of this benchmark and of those built on its method (loadtests/partition_cost.py)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=1000, help="per side and round")
    parser.add_argument("--depths", type=lambda text: [int(d) for d in text.split(",")], default=depths,
                        help="messages per session at the start, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    return parser


def run_and_report(args, measure, present, name, filename="report.md"):
    """Run, write the section `name` into loadtests/reports/<date>/`filename` (or --out), print it."""
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", datetime.date.today().isoformat())
    os.makedirs(out_dir, exist_ok=True)
    result = measure(args)
    print(f"report: {write_section(out_dir, name, present(result), result, filename)}")
    print(present(result))


def main():
    parser = exchange_arguments(__doc__, [2, 1000])
    parser.add_argument("--functions", action="store_true", help="PostgreSQL's per-function timings too")
    parser.add_argument("--variants", action="store_true",
                        help="also the engine's exchange without its chunk row, then without its live row")
    run_and_report(parser.parse_args(), run, section, "statement-cost")


if __name__ == "__main__":
    main()
