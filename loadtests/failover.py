"""The engine on a PostgreSQL that fails over, under streamed load: what clients lose.

    python -m loadtests.failover [--clients 6] [--after-seconds 20] [--scenarios kill,planned,freeze]

An HA cluster from loadtests/ha.py (pg_auto_failover: monitor, primary, synchronous standby, on
loopback), the migrations, the demo backend (streamed replies, `--backend-delay` s between words) and
one engine instance (gunicorn, one gevent worker per core) whose DATABASE_URL names both nodes with
`target_session_attrs=read-write`. Client greenlets, one session each, send streamed messages in a loop
(`if_busy: parallel`, so a reply left unfinished by the failover does not hold its session; a short
pause after a failed send, none after a good one). For each scenario:

1. warm up until every client has had a reply acknowledged (`complete` received);
2. `kill`: SIGKILL the primary's node (pg_autoctl and postgres): the monitor promotes the standby.
   `planned`: `pg_autoctl perform failover`. `freeze`: SIGSTOP the primary's node, so its sockets
   stay open and silent, as with a hung server (run last: what it wedges stays wedged). The sends
   in flight at that instant are noted; a client gives a send up after `--client-timeout` seconds
   without a byte and sends again;
3. the load goes on until every client has had 2 replies acknowledged for sends started more than
   `BOUND_SECONDS` after the promotion, or `--after-seconds` have passed;
4. the replies in flight at the kill are waited for until each is stored complete or has a
   `stop_reason` (the lease sweep ends a reply whose save failed: LEASE_SECONDS × 1.5);
5. checks on the new primary: every acknowledged reply stored complete with the text the client got,
   and the tree invariants (sql/checks/invariants.sql).

The old primary rejoins as the standby between scenarios. Figures go to
loadtests/reports/<date>/failover.json and the `failover` section of report.md. The same load and
measures serve tests/functional/db/test_failover.py (`StreamedLoad`, `outcome_of_run`).
"""
from gevent import monkey

monkey.patch_all()  # before requests and psycopg: the clients' greenlets must not block each other

import argparse  # noqa: E402
import collections  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import jwt  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from app.db import checks  # noqa: E402
from launch.embedded_postgres import free_port  # noqa: E402
from loadtests import ha  # noqa: E402
from loadtests.cluster import _wait as wait_ready  # noqa: E402
from loadtests.report_sections import write_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE_PREFIX = "gts.hyperspot.chat_engine.entities.message.v1~"
SESSION_TYPE = "gts.hyperspot.chat_engine.session_types.failover_demo.v1~"
JWT_SECRET = "failover-bench-secret-long-enough-for-hmac-sha256"
BOUND_SECONDS = 5.0  # the bar: new sends succeed within 5 s of the promotion
PAUSE_AFTER_FAILURE = 0.1


def read_ndjson(response):
    """Events as their lines arrive."""
    pending = b""
    while True:
        data = response.raw.read1(65536)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if pending.strip():
        yield json.loads(pending)


def _uuid(message_id):
    return message_id.rsplit("~", 1)[-1] if message_id else None


class StreamedLoad:
    """Greenlets, one per (client, session id), each sending streamed messages until stopped.

    A client is anything with `open_stream(path, body)` returning a streamed `requests` response
    (tests/support/engine.py's Api, or `Client` below). Every send is a dict in `sends`: started,
    ended (time.monotonic()), status, message_id (from `start`), text (the chunks), outcome
    (`complete`, `error <code>`, `http <status> <code>`, `cut` for a stream that ended without a last
    line, `exception <type>`), and first_byte (the `start` line's arrival)."""

    def __init__(self, pairs, if_busy="parallel", pause_after_failure=PAUSE_AFTER_FAILURE):
        self.pairs = pairs
        self.if_busy = if_busy
        self.pause_after_failure = pause_after_failure
        self.sends = []
        self._stop = gevent.event.Event()
        self._greenlets = []

    def start(self):
        self._greenlets = [gevent.spawn(self._run, index, client, session_id)
                           for index, (client, session_id) in enumerate(self.pairs)]
        return self

    def stop(self, timeout=60):
        self._stop.set()
        gevent.joinall(self._greenlets, timeout=timeout)
        stuck = [g for g in self._greenlets if not g.dead]
        for greenlet in stuck:
            greenlet.kill(block=True, timeout=5)
        return len(stuck)

    def _run(self, index, client, session_id):
        turn = 0
        while not self._stop.is_set():
            turn += 1
            send = {"n": len(self.sends), "client": index, "session_id": session_id, "started": time.monotonic(),
                    "ended": None,
                    "status": None, "message_id": None, "text": "", "outcome": None, "first_byte": None}
            self.sends.append(send)
            try:
                self._send(client, session_id, f"client {index} turn {turn}", send)
            except Exception as exc:  # noqa: BLE001 - requests', urllib3's (a read timeout mid-stream), bad JSON
                send["outcome"] = f"exception {type(exc).__name__}"
            send["ended"] = time.monotonic()
            if send["outcome"] != "complete":
                self._stop.wait(self.pause_after_failure)

    def _send(self, client, session_id, content, send):
        response = client.open_stream("/messages/send", {"session_id": session_id, "content": content,
                                                         "if_busy": self.if_busy})
        send["status"] = response.status_code
        try:
            if response.status_code != 200:
                try:
                    code = response.json().get("error_code")
                except ValueError:
                    code = None
                send["outcome"] = f"http {response.status_code} {code}"
                return
            for event in read_ndjson(response):
                kind = event.get("type")
                if kind == "start":
                    send["message_id"] = event["message_id"]
                    send["first_byte"] = time.monotonic()
                elif kind == "chunk":
                    send["text"] += event["chunk"].get("content", "")
                elif kind == "complete":
                    send["outcome"] = "complete"
                elif kind == "error":
                    send["outcome"] = f"error {event.get('error_code')}"
            if send["outcome"] is None:
                send["outcome"] = "cut"
        finally:
            response.close()

    # -- views -----------------------------------------------------------------------------------------

    def acknowledged(self):
        return [s for s in self.sends if s["outcome"] == "complete"]

    def in_flight(self):
        """The sends not ended yet: a copy of each, as they are now."""
        return [dict(s) for s in self.sends if s["ended"] is None]

    def acknowledged_per_client(self, started_after):
        counts = collections.Counter(s["client"] for s in self.sends
                                     if s["outcome"] == "complete" and s["started"] >= started_after)
        return [counts.get(index, 0) for index in range(len(self.pairs))]


def stored_replies(database_url, message_ids):
    """{message id as sent: {is_complete, stop_reason, text}} for those stored (absent: not stored)."""
    by_uuid = {_uuid(m): m for m in message_ids}
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row, connect_timeout=5) as conn:
        rows = conn.execute("SELECT id::text AS id, is_complete, metadata->>'stop_reason' AS stop_reason, content "
                            "FROM messages WHERE id = ANY(%s::uuid[])", (list(by_uuid),)).fetchall()
    return {by_uuid[row["id"]]: {"is_complete": row["is_complete"], "stop_reason": row["stop_reason"],
                                 "text": "".join(part.get("text", "") for part in row["content"]
                                                 if isinstance(part, dict))}
            for row in rows}


def wait_for_fates(database_url, message_ids, timeout):
    """Until every reply is stored complete or with a stop_reason (or the timeout): their stored state."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stored = stored_replies(database_url, message_ids)
        except psycopg.OperationalError:
            stored = None
        settled = stored is not None and all(
            m in stored and (stored[m]["is_complete"] or stored[m]["stop_reason"]) for m in message_ids)
        if settled or time.monotonic() > deadline:
            return stored or {}
        gevent.sleep(0.2)


def database_checks(database_url):
    invariants = checks()
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row, connect_timeout=5) as conn:
        return {"tree": invariants.tree_violations(conn), "replies": invariants.reply_violations(conn),
                "totals": invariants.database_totals(conn)}


def _fate(send, stored):
    row = stored.get(send["message_id"])
    client = send["outcome"] or "unfinished"
    if row is None:
        return f"not stored (client: {client})"
    if row["is_complete"]:
        return f"stored complete (client: {client})"
    if row["stop_reason"]:
        return f"stored incomplete, stop_reason {row['stop_reason']} (client: {client})"
    return f"stored incomplete without stop_reason (client: {client})"


def outcome_of_run(load, failover, in_flight_at_kill, database_url, fate_timeout, bound=BOUND_SECONDS):
    """The figures of one failover under load, from the clients' records and the new primary."""
    writable_at = failover["writable_at"]
    kill_at = writable_at - failover["writable_s"]
    sends = [s for s in load.sends if s["ended"] is not None]
    failed = [s for s in sends if s["outcome"] != "complete"]
    after_promotion = [s for s in sends if s["started"] >= writable_at]
    first_ack = min((s["ended"] for s in after_promotion if s["outcome"] == "complete"), default=None)
    first_ack_any = min((s["ended"] for s in sends if s["outcome"] == "complete" and s["ended"] >= writable_at),
                        default=None)
    late_failures = [s for s in sends if s["outcome"] != "complete" and s["started"] >= writable_at + bound]

    final = {s["n"]: s for s in load.sends}
    # In flight at the kill: a reply already streaming (`start` received), or a request before its
    # `start` (in transaction 1, or waiting for a connection), which may still have got a reply since.
    replies = [final[s["n"]] for s in in_flight_at_kill if s["message_id"]]
    before_start = [final[s["n"]] for s in in_flight_at_kill if not s["message_id"]]
    with_reply = replies + [s for s in before_start if s["message_id"]]
    stored = wait_for_fates(database_url, [s["message_id"] for s in with_reply], fate_timeout)
    fates = [{"message_id": s["message_id"], "started_before_kill_s": round(kill_at - s["started"], 3),
              "client_outcome": s["outcome"], "fate": _fate(s, stored), "stored": stored.get(s["message_id"])}
             for s in with_reply]

    acknowledged = load.acknowledged()
    stored_acks = stored_replies(database_url, [s["message_id"] for s in acknowledged])
    lost = [s["message_id"] for s in acknowledged
            if not stored_acks.get(s["message_id"], {}).get("is_complete")]
    changed = [s["message_id"] for s in acknowledged if s["message_id"] not in lost
               and stored_acks[s["message_id"]]["text"] != s["text"]]

    def rel(t):
        return round(t - writable_at, 3) if t is not None else None
    return {
        "failover": {k: v for k, v in failover.items() if k != "writable_at"},
        "sends": len(sends), "acknowledged": len(acknowledged), "failed": len(failed),
        "failed_by_outcome": dict(collections.Counter(s["outcome"] for s in failed)),
        "failed_before_kill": sum(1 for s in failed if s["ended"] < kill_at),
        "failed_after_promotion_plus_bound": len(late_failures),
        "late_failures": [{"started_s": rel(s["started"]), "outcome": s["outcome"]} for s in late_failures[:20]],
        "promotion_to_first_acknowledged_new_send_s": rel(first_ack),
        "promotion_to_first_acknowledgement_s": rel(first_ack_any),
        "promotion_to_last_failure_s": rel(max((s["ended"] for s in failed), default=None)),
        "failure_window_s": [rel(min((s["ended"] for s in failed if s["ended"] >= kill_at), default=None)),
                             rel(max((s["ended"] for s in failed), default=None))],
        "in_flight_at_kill": {"replies": len(replies), "requests_before_start": len(before_start),
                              "fates": dict(collections.Counter(f["fate"] for f in fates[:len(replies)])),
                              "requests_before_start_outcomes": dict(collections.Counter(
                                  s["outcome"] or "unfinished" for s in before_start)),
                              "detail": fates},
        "acknowledged_lost": lost, "acknowledged_with_other_text": changed,
        "checks": database_checks(database_url),
        "bound_s": bound,
    }


def settle(load, writable_at, clients, after_seconds, bound=BOUND_SECONDS, per_client=2):
    """Let the load run until every client has had `per_client` replies acknowledged for sends started
    after the bound, or `after_seconds` from the promotion."""
    deadline = writable_at + after_seconds
    while time.monotonic() < deadline:
        if min(load.acknowledged_per_client(writable_at + bound)) >= per_client:
            return True
        gevent.sleep(0.1)
    return False


def kill_under_load(load, cluster, mode, warm_up_timeout=60):
    """Warm up (every client acknowledged once, some replies streaming), fail over: (result, in flight)."""
    deadline = time.monotonic() + warm_up_timeout
    while not (min(load.acknowledged_per_client(0)) >= 1 and any(s["message_id"] for s in load.in_flight())):
        if time.monotonic() > deadline:
            raise TimeoutError("the load did not warm up: " + json.dumps(
                collections.Counter(s["outcome"] for s in load.sends)))
        gevent.sleep(0.02)
    in_flight = load.in_flight()
    return cluster.failover(mode), in_flight


# -- the benchmark's own processes -----------------------------------------------------------------------

class Client:
    """A minimal API client: one keep-alive connection, one JWT."""

    def __init__(self, base_url, client_id, timeout=30):
        self.base = base_url
        self.timeout = timeout  # connect, and each read: a stream silent for this long is given up
        self.http = requests.Session()
        token = jwt.encode({"sub": client_id, "exp": int(time.time()) + 86400}, JWT_SECRET, algorithm="HS256")
        self.http.headers["Authorization"] = f"Bearer {token}"

    def open_stream(self, path, body):
        return self.http.post(self.base + "/api/v1" + path, json=body, stream=True, timeout=self.timeout)

    def create_session(self, session_type_id):
        response = self.http.post(self.base + "/api/v1/sessions", json={"session_type_id": session_type_id},
                                  timeout=30)
        response.raise_for_status()
        return response.json()["session_id"]


def engine_log_summary(path, start=0, limit=12):
    """The engine's warnings and errors from byte `start` on, counted by their first line (numbers and
    ids blanked, addresses kept)."""
    counts = collections.Counter()
    with open(path, "rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = {"level": "?", "message": line.strip()}
        level = str(record.get("level", "")).upper()
        if level not in ("WARNING", "ERROR", "CRITICAL", "?") or not record.get("message"):
            continue
        message = str(record["message"]).strip().splitlines()[0]
        message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|0x[0-9a-f]+", "<id>", message)
        message = re.sub(r"(?<![\d.])\d+(\.\d+)?(?![\d.])", "N", message)[:160]
        if "exception" in record:  # the exception's last line says what it was
            message += " — " + record["exception"].strip().splitlines()[-1][:120]
        counts[f"{level} {message}"] += 1
    return [{"count": n, "line": line} for line, n in counts.most_common(limit)]


def run(clients, after_seconds, scenarios, backend_delay, workers, out_dir, client_timeout):
    work = tempfile.mkdtemp(prefix="chat-engine-failover-")
    processes = []
    cluster = None
    say = print
    results = {}
    engine_log_path = os.path.join(work, "engine.log")
    offset = 0
    try:
        say("HA cluster (pg_auto_failover) coming up…")
        cluster = ha.HaCluster.up(os.path.join(work, "ha"), say=say)
        database_url = cluster.database_url
        from app import migrations
        migrations.upgrade(database_url)

        backend_port, engine_port = free_port(), free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING",
               "BIND": f"127.0.0.1:{engine_port}", "PUBLIC_BASE_URL": f"http://127.0.0.1:{engine_port}"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        backend_log = open(os.path.join(work, "backend.log"), "wb")
        processes.append(subprocess.Popen([sys.executable, "-m", "demo_backend", "--port", str(backend_port),
                                           "--delay", str(backend_delay)], cwd=ROOT, stdout=backend_log,
                                          stderr=subprocess.STDOUT))
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "session-type", "create", "--id",
                        SESSION_TYPE, "--name", "failover_demo", "--replace", "--webhook-url",
                        f"http://127.0.0.1:{backend_port}/"], cwd=ROOT, env=env, check=True, capture_output=True)
        engine_log = open(engine_log_path, "wb")
        processes.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                          cwd=ROOT, env=env, stdout=engine_log, stderr=subprocess.STDOUT))
        engine_url = f"http://127.0.0.1:{engine_port}"
        wait_ready(engine_url + "/health/ready")
        lease_seconds = float(env.get("LEASE_SECONDS", 20))

        for scenario in scenarios:
            mode = {"kill": "node", "freeze": "freeze", "planned": "planned"}[scenario]
            cluster.wait_healthy()
            api_clients = [Client(engine_url, f"failover-{scenario}-{i}", client_timeout) for i in range(clients)]
            pairs = [(c, c.create_session(SESSION_TYPE)) for c in api_clients]
            load = StreamedLoad(pairs).start()
            say(f"{scenario}: {clients} clients streaming; failing over…")
            failover, in_flight = kill_under_load(load, cluster, mode)
            say(f"{scenario}: {failover['new_primary']} accepts writes {failover['writable_s']} s after the kill")
            recovered = settle(load, failover["writable_at"], clients, after_seconds)
            stuck = load.stop()
            outcome = outcome_of_run(load, failover, in_flight, database_url, fate_timeout=lease_seconds * 1.5 + 30)
            outcome.update({"recovered_within_run": recovered, "clients_stuck_at_stop": stuck,
                            "engine_log": engine_log_summary(engine_log_path, offset)})
            offset = os.path.getsize(engine_log_path)
            results[scenario] = outcome
            say(json.dumps({k: v for k, v in outcome.items() if k not in ("in_flight_at_kill", "checks")}))
            if scenario != scenarios[-1]:
                cluster.rejoin()
        return results, cluster.state
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if os.path.exists(engine_log_path):
            results["engine_log_at_stop"] = engine_log_summary(engine_log_path, offset)
        if cluster is not None:
            keep = os.path.join(out_dir, "raw")
            os.makedirs(keep, exist_ok=True)
            for name in ("engine.log", "backend.log"):
                if os.path.exists(os.path.join(work, name)):
                    os.replace(os.path.join(work, name), os.path.join(keep, f"failover-{name}"))
            cluster.down()
        subprocess.run(["rm", "-rf", work])


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def render(result):
    """The report's `failover` section."""
    lines = ["<!-- failover:start -->", "", "## Failover: the primary PostgreSQL killed under streamed load", ""]
    lines.append(
        f"Measured {result['when'][:16].replace('T', ' ')} UTC by `{result['command']}` on code `{result['commit']}`"
        f" ({result['dirty']}). pg_auto_failover {result['pg_auto_failover']} (Debian's packages): a monitor, "
        "a primary and a synchronous standby (`synchronous_standby_names = "
        f"{result['synchronous_standby_names']}`), all on 127.0.0.1, the monitor's checks tuned to seconds "
        "(loadtests/ha.py: health check every 1 s, a node is failed after 2 s without a report, a silent primary "
        "gets 2 s to demote). One engine instance (gunicorn, "
        f"{result['workers'] or 'one gevent worker per core'}) with "
        "`DATABASE_URL=postgresql://…@127.0.0.1:P1,127.0.0.1:P2/chat?target_session_attrs=read-write`, the demo "
        f"backend ({result['backend_delay']} s between words, 6 words a reply), {result['clients']} client greenlets "
        "each streaming `POST /messages/send` in a loop in its own session (`if_busy: parallel`; 0.1 s pause after "
        f"a failed send; a send with no byte for {result['client_timeout']:g} s is given up). Shared 2-core machine: "
        "timings move with what else runs.")
    lines.append("")
    lines.append("| | " + " | ".join(result["scenarios"]) + " |")
    lines.append("|---|" + "---|" * len(result["scenarios"]))

    def row(label, fn):
        cells = []
        for name in result["scenarios"]:
            try:
                value = fn(result["results"][name])
            except (KeyError, TypeError):
                value = None
            cells.append("—" if value is None or value == "" else str(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    row("what happened", lambda r: {"node": "SIGKILL of the primary's node (pg_autoctl + postgres)",
                                    "freeze": "SIGSTOP of the primary's node (its sockets stay open, silent)",
                                    "planned": "`pg_autoctl perform failover`"}[r["failover"]["mode"]])
    row("seconds from the kill to the monitor marking the primary unhealthy", lambda r: r["failover"]["detected_s"])
    row("seconds from the kill to the standby reporting `wait_primary` (promoted)",
        lambda r: r["failover"]["promoted_s"])
    row("**seconds from the kill to the new primary accepting writes** (a probe write commits)",
        lambda r: r["failover"]["writable_s"])
    row("**seconds from then to the first acknowledged send started after it**",
        lambda r: r["promotion_to_first_acknowledged_new_send_s"])
    row("seconds from then to the last failed send's end", lambda r: r["promotion_to_last_failure_s"])
    row("sends / acknowledged / **failed**", lambda r: f"{r['sends']} / {r['acknowledged']} / {r['failed']}")
    row("failed sends by what the client got",
        lambda r: "; ".join(f"{k}: {v}" for k, v in sorted(r["failed_by_outcome"].items())) or "none")
    row(f"failed sends started more than {BOUND_SECONDS:g} s after the promotion",
        lambda r: r["failed_after_promotion_plus_bound"])
    row("replies in flight at the kill (`start` received)", lambda r: r["in_flight_at_kill"]["replies"])
    row("what became of them", lambda r: "; ".join(f"{v} × {k}" for k, v in sorted(
        r["in_flight_at_kill"]["fates"].items())) or "—")
    row("sends in flight before their `start`, and their outcome", lambda r: (
        f"{r['in_flight_at_kill']['requests_before_start']}" + "".join(
            f"; {v} × {k}" for k, v in r["in_flight_at_kill"]["requests_before_start_outcomes"].items())))
    row("**acknowledged replies lost** (not stored complete on the new primary)", lambda r: len(r["acknowledged_lost"]))
    row("tree invariants on the new primary", lambda r: "hold" if not any(r["checks"]["tree"].values())
        and not any(r["checks"]["replies"].values()) else json.dumps({**r["checks"]["tree"], **r["checks"]["replies"]}))
    lines.append("")
    for name in result["scenarios"]:
        entries = result["results"].get(name, {}).get("engine_log") or []
        lines.append(f"The engine's warnings and errors during `{name}` (counted; numbers and ids blanked):"
                     if entries else f"The engine logged no warning or error during `{name}`.")
        lines.append("")
        lines += [f"- {entry['count']} × `{entry['line']}`" for entry in entries]
        lines += [""] if entries else []
    stop = result["results"].get("engine_log_at_stop") or []
    if stop:
        lines += ["And when the engine was stopped (SIGTERM) after the last scenario:", ""]
        lines += [f"- {entry['count']} × `{entry['line']}`" for entry in stop] + [""]
    lines.append("To reproduce: `scripts/test tests/functional/db/test_failover.py` once (it creates `.venv` and "
                 "installs pg_auto_failover), then `.venv/bin/python -m loadtests.failover` as root. It takes about "
                 "2 minutes and rewrites this section.")
    lines += ["", "<!-- failover:end -->"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--after-seconds", type=float, default=20,
                        help="how long the load may go on after the promotion, at most")
    parser.add_argument("--scenarios", default="kill,planned,freeze",
                        help="kill: SIGKILL of the primary's node; planned: pg_autoctl perform failover; freeze: "
                             "SIGSTOP of the primary's node (last: an engine it wedges stays wedged)")
    parser.add_argument("--backend-delay", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: one per core)")
    parser.add_argument("--client-timeout", type=float, default=10,
                        help="a client gives a send up after this many seconds without a byte, and sends again")
    parser.add_argument("--out", default=None, help="report directory (default loadtests/reports/<today>)")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    now = datetime.datetime.now(datetime.UTC)
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", now.strftime("%Y-%m-%d"))
    os.makedirs(out_dir, exist_ok=True)
    results, state = run(args.clients, args.after_seconds, scenarios, args.backend_delay, args.workers, out_dir,
                         args.client_timeout)
    version = subprocess.run([state["pg_autoctl"], "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "app"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    result = {"when": now.isoformat(), "command": " ".join(["python -m loadtests.failover", *sys.argv[1:]]),
              "commit": _commit(),
              "dirty": "plus uncommitted changes in app/" if dirty else "app/ as committed",
              "pg_auto_failover": version.replace("pg_autoctl version ", ""), "clients": args.clients,
              "backend_delay": args.backend_delay, "workers": args.workers, "scenarios": scenarios,
              "client_timeout": args.client_timeout,
              "synchronous_standby_names": "'ANY 1 (pgautofailover_standby_N)'",
              "monitor_settings": ha.MONITOR_SETTINGS, "results": results}
    path = write_section(out_dir, "failover", render(result), result)
    print(f"written: {path} and {os.path.join(out_dir, 'failover.json')}")


if __name__ == "__main__":
    main()
