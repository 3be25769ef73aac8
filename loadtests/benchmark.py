"""The standard benchmark suite, written to loadtests/reports/<date>/report.md (with Locust's CSV/HTML).

    python -m loadtests.benchmark                     # the full suite (about 20 minutes on 2 cores)
    python -m loadtests.benchmark --quick             # a short smoke run of every scenario

Scenarios, each on a fresh local cluster behind nginx (loadtests/cluster.py):
  1. latency: 1 instance, then 3, at a moderate load (routing overhead without CPU saturation);
  2. capacity: 1 instance, then 3, with no think time (how many messages/s each sustains);
  3. failure: three instances, one SIGKILLed mid-run and restarted; requests failed, acknowledged
     replies lost, and how long the balancer kept routing to the dead instance;
  4. isolation: healthy sessions alone, then the same number next to sessions on a hanging backend;
  5. scale: 10,000 users, one session each, across three instances;
  6. search and export at 10,000 messages in a session and 1,000 sessions for one client;
  7. cost per streamed exchange: one engine instance against the same-stack baseline relay
     (loadtests/exchange_cost.py; needs wrk, installed with apt-get when missing, else skipped).
Every latency is reported next to a baseline measured in the same run (the demo backend called
directly, or the raw SQL query), because this machine is shared and noisy.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from importlib.metadata import version as package_version

import jwt
import psycopg
import requests
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.db import Queries
from launch.embedded_postgres import find_bindir
from loadtests import datacheck, exchange_cost
from loadtests.cluster import FAILING_TYPE, HEALTHY_TYPE, JWT_SECRET, ROOT, STATE_DIR, Cluster, ensure_nginx

SEED = Queries(os.path.join(ROOT, "loadtests", "sql"))


ROLES = (("locust", "Locust"), ("gunicorn", "engine"), ("postgres", "PostgreSQL"), ("nginx", "nginx"),
         ("demo_backend", "demo backend"))


def cpu_ticks():
    """{pid: (role, user+system ticks)} for this machine's processes, by what their command line says."""
    ticks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = next((label for needle, label in ROLES if needle in command), None)
        if role:
            ticks[pid] = (role, int(fields[11]) + int(fields[12]))
    return ticks


def cores_used(before, after, seconds):
    """Average cores each role kept busy between two cpu_ticks() samples."""
    per_second = os.sysconf("SC_CLK_TCK") * seconds
    used = {}
    for pid, (role, end) in after.items():
        start = before.get(pid, (role, 0))[1]
        used[role] = used.get(role, 0) + (end - start) / per_second
    return {role: round(value, 2) for role, value in sorted(used.items(), key=lambda kv: -kv[1])}


def run_locust(cluster, out_dir, name, users, spawn_rate, duration, think=(0.5, 1.5), session_types=None,
               baseline_users=10, during=None):
    """Run Locust headless against the balancer; returns (stats by name, datacheck report, seconds)."""
    prefix = os.path.join(out_dir, name)
    ack_dir = os.path.join(out_dir, f"{name}-acks")
    # A rerun into the same directory starts with a fresh database: an earlier run's acknowledgements
    # would count as lost replies.
    shutil.rmtree(ack_dir, ignore_errors=True)
    command = [sys.executable, "-m", "locust", "-f", os.path.join(ROOT, "loadtests", "locustfile.py"), "--headless",
               "--host", cluster.url, "-u", str(users), "-r", str(spawn_rate), "-t", f"{duration}s",
               "--processes", "2", "--csv", prefix, "--html", prefix + ".html", "--only-summary",
               "--direct-url", cluster.state["backend_url"], "--ack-dir", ack_dir,
               "--think-min", str(think[0]), "--think-max", str(think[1]),
               "--baseline-users", str(baseline_users), "--max-error-ratio", "1",
               "--session-types", session_types or HEALTHY_TYPE, "--stop-timeout", "30"]
    started, ticks_before = time.monotonic(), cpu_ticks()
    with open(prefix + ".log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if during:
            during(started)
        ticks_after = cpu_ticks()
        while process.poll() is None:  # sample until the end, while Locust's processes still exist
            time.sleep(0.5)
            ticks_after.update(cpu_ticks())
    elapsed = time.monotonic() - started
    check = datacheck.check(cluster.database_url, ack_dir)
    check["cpu_cores"] = cores_used(ticks_before, ticks_after, elapsed)
    return read_stats(prefix + "_stats.csv"), check, elapsed


def read_stats(path):
    with open(path) as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def stat(stats, name, column):
    row = stats.get(name)
    if not row or row.get(column) in (None, "", "N/A"):
        return None
    return float(row[column])


def engine_histogram(cluster, metric):
    """Merge a histogram over every instance's /metrics and estimate its p50/p95 (ms)."""
    buckets = {}
    for url in cluster.instance_urls():
        try:
            text = requests.get(url + "/metrics", timeout=5).text
        except requests.RequestException:
            continue
        for line in text.splitlines():
            if line.startswith(metric + "_bucket"):
                bound = line.split('le="')[1].split('"')[0]
                buckets[bound] = buckets.get(bound, 0) + float(line.rsplit(" ", 1)[1])
    ordered = sorted(((float("inf") if b == "+Inf" else float(b)), c) for b, c in buckets.items())
    if not ordered or ordered[-1][1] == 0:
        return None, None

    def quantile(q):
        target, previous_bound, previous_count = q * ordered[-1][1], 0.0, 0.0
        for bound, count in ordered:
            if count >= target:
                if bound == float("inf"):
                    return previous_bound * 1000
                share = (target - previous_count) / max(count - previous_count, 1e-9)
                return (previous_bound + (bound - previous_bound) * share) * 1000
            previous_bound, previous_count = bound, count
        return previous_bound * 1000
    return quantile(0.5), quantile(0.95)


def chat_summary(stats, elapsed, check, label=""):
    sends = [n for n in stats if n.startswith("POST /messages/") and n.endswith(label) and "Aggregated" not in n]
    messages = sum(float(stats[n]["Request Count"]) for n in sends)
    engine_rows = [r for n, r in stats.items() if r["Type"] != "METRIC" and n != "Aggregated" and "direct" not in n]
    return {
        "sessions": check["sessions_created_by_clients"],
        "requests": sum(float(r["Request Count"]) for r in engine_rows),
        "failures": sum(float(r["Failure Count"]) for r in engine_rows),
        "rps": sum(float(r["Requests/s"]) for r in engine_rows),
        "messages_per_s": messages / elapsed if elapsed else 0,
        "create": (stat(stats, "POST /sessions", "50%"), stat(stats, "POST /sessions", "95%"),
                   stat(stats, "POST /sessions", "99%")),
        "ttfc_engine": (stat(stats, "ttfc engine" + label, "50%"), stat(stats, "ttfc engine" + label, "95%"),
                        stat(stats, "ttfc engine" + label, "99%")),
        "ttfc_direct": (stat(stats, "ttfc direct", "50%"), stat(stats, "ttfc direct", "95%"),
                        stat(stats, "ttfc direct", "99%")),
        "acked": check["replies_acknowledged"], "lost": check["acknowledged_replies_lost"], "check_ok": check["ok"],
        "cpu": check["cpu_cores"],
    }


def with_cluster(instances, body, failing_backend=None, workers=1):
    cluster = Cluster.up(instances=instances, workers=workers, failing_backend=failing_backend)
    try:
        return body(cluster)
    finally:
        cluster.down()


def nginx_timeline(dead_port, killed_at_wall, restarted_at_wall):
    """From nginx's access log: failures routed to the dead instance, and when routing to it stopped."""
    path = os.path.join(STATE_DIR, "access.log")
    dead = f"127.0.0.1:{dead_port}"
    first_failure = last_routed = None
    failed = 0
    with open(path) as handle:
        for line in handle:
            entry = json.loads(line)
            if not killed_at_wall <= entry["t"] <= restarted_at_wall or dead not in entry["up"]:
                continue
            last_routed = entry["t"]
            if entry["s"] >= 500:
                failed += 1
                first_failure = first_failure or entry["t"]
    return {"failed_via_dead": failed,
            "last_attempt_after_kill_s": (last_routed - killed_at_wall) if last_routed else 0.0}


# -- the scenarios ------------------------------------------------------------------------------------------

def scenario_pair(out_dir, kind, users, duration, think, baseline_users):
    """The same Locust load against 1 and then 3 instances (each on a fresh cluster)."""
    results = {}
    for instances in (1, 3):
        def body(cluster, instances=instances):
            stats, check, elapsed = run_locust(cluster, out_dir, f"{kind}-{instances}x", users, max(users // 5, 1),
                                               duration, think=think, baseline_users=baseline_users)
            summary = chat_summary(stats, elapsed, check)
            summary["overhead_metric"] = engine_histogram(cluster, "chat_engine_routing_overhead_seconds")
            return summary
        results[instances] = with_cluster(instances, body)
    return results


def scenario_failure(out_dir, users, duration):
    def body(cluster):
        marks = {}

        def chaos(started):
            time.sleep(duration / 3)
            marks["killed_wall"] = time.time()
            marks["port"] = cluster.kill_instance(1)
            time.sleep(duration / 3)
            marks["restart_wall"] = time.time()
            cluster.restart_instance(1)
            marks["ready_after_restart_s"] = time.time() - marks["restart_wall"]
        stats, check, elapsed = run_locust(cluster, out_dir, "failure-3x", users, max(users // 5, 1), duration,
                                           during=lambda started: threading.Thread(
                                               target=chaos, args=(started,), daemon=True).start())
        time.sleep(1.5)  # nginx flushes its access log every second
        timeline = nginx_timeline(marks["port"], marks["killed_wall"], marks["restart_wall"])
        return {**chat_summary(stats, elapsed, check), **timeline, **marks, "check": check}
    return with_cluster(3, body)


def scenario_isolation(out_dir, users, duration):
    """`users` healthy sessions alone, then the same number next to as many on a hanging backend."""
    def body(cluster):
        alone_stats, alone_check, alone_elapsed = run_locust(
            cluster, out_dir, "isolation-baseline-3x", users, max(users // 5, 1), duration)
        stats, check, elapsed = run_locust(cluster, out_dir, "isolation-mixed-3x", 2 * users, max(users // 5, 1),
                                           duration, session_types=f"{HEALTHY_TYPE},{FAILING_TYPE}")

        return {"alone": chat_summary(alone_stats, alone_elapsed, alone_check),
                "mixed": chat_summary(stats, elapsed, check, " [load_demo]"),
                "alone_failures": _failures(alone_stats, ""), "mixed_failures": _failures(stats, " [load_demo]"),
                "failing_failures": _failures(stats, " [load_failing]"),
                "check": check}
    return with_cluster(3, body, failing_backend="hang")


def _failures(stats, suffix):
    """(failed, total) chat requests (send/recreate/branch) whose name ends with the suffix."""
    rows = [r for n, r in stats.items() if n.startswith("POST /messages/") and n.endswith(suffix)]
    return sum(float(r["Failure Count"]) for r in rows), sum(float(r["Request Count"]) for r in rows)


def scenario_scale(out_dir, users, duration, spawn_rate):
    def body(cluster):
        stats, check, elapsed = run_locust(cluster, out_dir, "scale-3x", users, spawn_rate, duration,
                                           think=(30, 60), baseline_users=10)
        summary = chat_summary(stats, elapsed, check)
        summary["overhead_metric"] = engine_histogram(cluster, "chat_engine_routing_overhead_seconds")
        summary["check"] = check
        return summary
    return with_cluster(3, body, workers=1)


def _timed(call, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(int(len(samples) * 0.95) - 1, 0)]


def scenario_search(out_dir, repeat):
    def body(cluster):
        client = "search-bench-client"
        token = jwt.encode({"sub": client, "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        api = cluster.url + "/api/v1"
        big, export_session = uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(cluster.database_url, autocommit=True, row_factory=dict_row) as conn:
            for session_id in (big, export_session):
                SEED.seed_session(conn, id=session_id, client_id=client, session_type_id=HEALTHY_TYPE,
                                  metadata=Jsonb({"title": "seeded"}))
            SEED.seed_chain(conn, session_ids=[big], count=10_000)
            SEED.seed_chain(conn, session_ids=[export_session], count=1_000)
            SEED.seed_sessions(conn, client_id=client, session_type_id=HEALTHY_TYPE, count=998)
            others = [r["id"] for r in SEED.client_sessions_except(conn, client_id=client,
                                                                   excluded=[big, export_session])]
            SEED.seed_chain(conn, session_ids=others, count=10)
            conn.execute("ANALYZE messages")
            words = ["river", "mountain coffee", "garden rocket", "violin", "planet harbor", "running",
                     "budget", "castle island", "\"forest ocean\"", "music -bridge"]
            sid = f"gts.hyperspot.chat_engine.entities.session.v1~{big}"
            in_session = _timed(lambda: http.get(f"{api}/sessions/{sid}/search",
                                                 params={"query": random.choice(words)}).raise_for_status(), repeat)
            floor = _timed(lambda: SEED.search_floor(conn, session_id=big, query=random.choice(words)), repeat)
            across = _timed(lambda: http.get(f"{api}/search", params={"query": random.choice(words)})
                            .raise_for_status(), repeat)
            export_id = f"gts.hyperspot.chat_engine.entities.session.v1~{export_session}"

            def export():
                link = http.post(f"{api}/sessions/{export_id}/export", json={"format": "markdown", "scope": "all"})
                link.raise_for_status()
                requests.get(link.json()["download_url"]).raise_for_status()
            exported = _timed(export, max(repeat // 5, 5))
        return {"in_session": in_session, "floor": floor, "across": across, "export": exported}
    return with_cluster(1, body)


# -- the report -------------------------------------------------------------------------------------------

def _ms(value):
    return "–" if value is None else f"{value:.0f}"


def _triple(values):
    return " / ".join(_ms(v) for v in values)


def machine():
    def version(command):
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    packages = {name: package_version(name) for name in
                ("flask", "gunicorn", "gevent", "psycopg", "psycopg-pool", "locust")}
    return {"cores": os.cpu_count(), "memory_gib": round(memory, 1), "python": platform.python_version(),
            "postgres": version([os.path.join(find_bindir()[0], "postgres"), "--version"]),
            "nginx": subprocess.run([ensure_nginx(), "-v"], capture_output=True, text=True).stderr.strip(),
            "kernel": platform.release(), **packages}


def _overheads(result):
    result["overhead"] = tuple(None if e is None or d is None else e - d
                               for e, d in zip(result["ttfc_engine"], result["ttfc_direct"], strict=False))
    return result


def _pair_table(pair, extra_rows=()):
    one, three = _overheads(pair[1]), _overheads(pair[3])
    lines = ["| | 1 instance | 3 instances |", "|---|---|---|"]
    for title, key, fmt in (("sessions created", "sessions", "{:.0f}"),
                            ("HTTP requests (excluding the baseline users)", "requests", "{:.0f}"),
                            ("requests/s", "rps", "{:.1f}"), ("messages/s (send + recreate + branch)",
                                                              "messages_per_s", "{:.1f}"),
                            ("failed requests", "failures", "{:.0f}"), *extra_rows):
        lines.append(f"| {title} | {fmt.format(one[key])} | {fmt.format(three[key])} |")
    for title, key in (("session create p50 / p95 / p99 ms", "create"),
                       ("time to first chunk through the engine, p50 / p95 / p99 ms", "ttfc_engine"),
                       ("time to first chunk, backend called directly (baseline), p50 / p95 / p99 ms", "ttfc_direct"),
                       ("**routing overhead** (engine − direct), p50 / p95 / p99 ms", "overhead")):
        lines.append(f"| {title} | {_triple(one[key])} | {_triple(three[key])} |")
    lines.append("| engine's own routing-overhead histogram (received → first byte to the backend) p50 / p95 ms | "
                 f"{_triple(one['overhead_metric'] or (None, None))} | {_triple(three['overhead_metric'] or (None, None))} |")
    lines.append(f"| CPU kept busy, in cores (of {os.cpu_count()}) | {_cpu(one['cpu'])} | {_cpu(three['cpu'])} |")
    lines.append(f"| data check: replies acknowledged / lost; tree invariants | {one['acked']} / {one['lost']}; "
                 f"{'hold' if one['check_ok'] else 'VIOLATED'} | {three['acked']} / {three['lost']}; "
                 f"{'hold' if three['check_ok'] else 'VIOLATED'} |")
    return lines


def _cpu(cores):
    return f"{sum(cores.values()):.2f}: " + ", ".join(f"{role} {value:.2f}" for role, value in cores.items())


def _ratio(failed_total):
    failed, total = failed_total
    return f"{failed:.0f} of {total:.0f} ({100 * failed / total:.2f} %)" if total else "–"


def write_report(out_dir, params, info, latency, capacity, failure, isolation, scale, search):
    capacity_ratio = (capacity[3]["messages_per_s"] / capacity[1]["messages_per_s"]
                      if capacity[1]["messages_per_s"] else 0)
    lines = [f"# Chat Engine benchmark — {params['date']}", "",
             "Produced by `scripts/bench` (`python -m loadtests.benchmark`) on this repository's code. Every "
             "scenario runs on a fresh local cluster: PostgreSQL, the demo backend, gunicorn instances with one "
             "gevent worker each, and nginx in front, all on loopback. The load comes from Locust with 2 worker "
             "processes. Latencies are shown next to a baseline measured in the same run: the demo backend "
             "called directly with the same payload, or the raw SQL query.", "",
             "## Machine", "",
             f"- {info['cores']} cores, {info['memory_gib']} GiB RAM, kernel {info['kernel']}; Python {info['python']}; "
             f"{info['postgres']}; {info['nginx']}",
             f"- flask {info['flask']}, gunicorn {info['gunicorn']}, gevent {info['gevent']}, psycopg {info['psycopg']}, "
             f"psycopg-pool {info['psycopg-pool']}, locust {info['locust']}",
             "- **What limits these figures:** Locust (2 processes), nginx, PostgreSQL, the demo backend and every "
             "engine instance share the same 2 cores. Past about 100 messages/s the CPU is saturated, and "
             "latencies then measure queueing for the CPU rather than the engine's work. One gunicorn worker "
             "per instance means 1 instance can use at most one core and 3 instances can use both. With more "
             "cores than that (and the load generator elsewhere), more instances would keep adding capacity.", "",
             f"## Latency at moderate load: {params['latency_users']} users, think time 1–3 s, "
             f"{params['duration']} s", "",
             *_pair_table(latency), "",
             f"## Capacity: {params['capacity_users']} users with no think time, {params['duration']} s", "",
             *_pair_table(capacity), "",
             f"3 instances / 1 instance: **{capacity_ratio:.2f}×** messages/s on the same machine.", "",
             "## Instance failure: 3 instances, one SIGKILLed a third of the way in and restarted at two thirds", "",
             f"- {params['failure_users']} users, think time 0.5–1.5 s, {params['duration']} s; killed port "
             f"{failure['port']}; it was ready again {failure['ready_after_restart_s']:.1f} s after the restart",
             f"- failed requests over the whole run: **{failure['failures']:.0f}** of {failure['requests']:.0f}. nginx "
             f"logged {failure['failed_via_dead']} requests failing on the dead instance: streams in flight "
             "when it died, and requests already sent to it. nginx does not replay non-idempotent POSTs that "
             "were already sent; requests refused at connect were retried on another instance",
             f"- nginx last tried the dead instance {failure['last_attempt_after_kill_s']:.1f} s after the kill. "
             "Passive health checks (max_fails=1, fail_timeout=5 s) mean one probe every 5 s until it came back",
             f"- acknowledged replies lost: **{failure['lost']}** of {failure['acked']}. Sessions created "
             f"{failure['check']['sessions_created_by_clients']}, found {failure['check']['sessions_found']}. "
             f"Incomplete messages left by the crash: {failure['check']['incomplete_messages']}. Tree invariants "
             f"{'hold' if failure['check']['ok'] else 'VIOLATED'}", "",
             "## Isolation: a hanging backend next to a healthy one (3 instances)", "",
             f"{params['isolation_users']} users on the healthy demo backend, first alone, then next to "
             f"{params['isolation_users']} users whose backend never answers message events (session type "
             f"timeout 5 s). Think time 0.5–1.5 s, {params['duration']} s each.", "",
             "| the healthy backend's sessions | alone | next to the hanging backend |", "|---|---|---|",
             f"| failed chat requests | {_ratio(isolation['alone_failures'])} | {_ratio(isolation['mixed_failures'])} |",
             f"| time to first chunk p50 / p95 / p99 ms | {_triple(isolation['alone']['ttfc_engine'])} | "
             f"{_triple(isolation['mixed']['ttfc_engine'])} |",
             f"| baseline (backend called directly) p50 / p95 / p99 ms | {_triple(isolation['alone']['ttfc_direct'])} | "
             f"{_triple(isolation['mixed']['ttfc_direct'])} |", "",
             f"The hanging backend's own chat requests failed as they should: {_ratio(isolation['failing_failures'])}. "
             "They were timeouts at first, then fail-fast 503s once its breaker opened.", "",
             f"## Scale: {params['scale_users']:,} sessions across 3 instances", "",
             f"- {params['scale_users']:,} users (one session each, the baseline's 10 included), spawned at "
             f"{params['scale_spawn']}/s, {params['scale_duration']} s in all, think time 30–60 s",
             f"- sessions created **{scale['check']['sessions_created_by_clients']:,}**, found in the database "
             f"{scale['check']['sessions_found']:,}; failed requests {scale['failures']:.0f} of {scale['requests']:.0f}",
             f"- session create p50 / p95 / p99: {_triple(scale['create'])} ms (during the spawn, ~100 creates/s "
             "on top of the conversations)",
             f"- time to first chunk, engine p50 / p95 / p99: {_triple(scale['ttfc_engine'])} ms; direct baseline "
             f"{_triple(scale['ttfc_direct'])} ms; engine's own routing-overhead histogram p50 / p95: "
             f"{_triple(scale['overhead_metric'] or (None, None))} ms",
             f"- replies acknowledged / lost: {scale['acked']:,} / {scale['lost']}; tree invariants "
             f"{'hold' if scale['check']['ok'] else 'VIOLATED'}", "",
             "## Search and export", "",
             "One session with 10,000 messages and one client with 1,000 sessions (seeded with SQL). "
             f"p50 / p95 over {params['search_repeat']} requests through nginx and one instance.", "",
             "| | p50 ms | p95 ms | target (p95) |", "|---|---|---|---|",
             f"| in-session search (10,000 messages) | {_ms(search['in_session'][0])} | {_ms(search['in_session'][1])} "
             "| < 1000 |",
             f"| a similar ranking query as raw SQL, no HTTP (baseline) | {_ms(search['floor'][0])} | "
             f"{_ms(search['floor'][1])} | |",
             f"| cross-session search (1,000 sessions) | {_ms(search['across'][0])} | {_ms(search['across'][1])} "
             "| < 3000 |",
             f"| export of 1,000 messages (Markdown, scope all: create + download) | {_ms(search['export'][0])} | "
             f"{_ms(search['export'][1])} | < 5000 |", ""]
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(lines))
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump({"params": params, "machine": info, "latency": latency, "capacity": capacity, "failure": failure,
                   "isolation": isolation, "scale": scale, "search": search}, handle, indent=2, default=str)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=45, help="seconds per chat run")
    parser.add_argument("--latency-users", type=int, default=60)
    parser.add_argument("--capacity-users", type=int, default=150)
    parser.add_argument("--failure-users", type=int, default=120)
    parser.add_argument("--isolation-users", type=int, default=80)
    parser.add_argument("--scale-users", type=int, default=10_000)
    parser.add_argument("--scale-duration", type=int, default=180)
    parser.add_argument("--scale-spawn", type=int, default=100)
    parser.add_argument("--search-repeat", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="small, short runs of every scenario")
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", choices=("scale",),
                        help="run this scenario alone; its results go to raw/<name>.json, the report is left as is")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.latency_users, args.capacity_users, args.failure_users = 15, 20, 30, 30
        args.isolation_users, args.scale_users, args.scale_duration, args.search_repeat = 20, 200, 20, 10
    date = datetime.date.today().isoformat()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", date)
    raw = os.path.join(out_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    params = {"date": date, **{k: v for k, v in vars(args).items() if k not in ("quick", "out", "only")}}
    if args.only == "scale":
        scale = scenario_scale(raw, args.scale_users, args.scale_duration, args.scale_spawn)
        with open(os.path.join(raw, "scale.json"), "w") as handle:
            json.dump({"params": params, "commit": exchange_cost._commit(), "scale": scale}, handle, indent=2,
                      default=str)
        print(json.dumps(scale, indent=2, default=str))
        return
    print("machine…", flush=True)
    info = machine()
    print("latency, 1 and 3 instances…", flush=True)
    latency = scenario_pair(raw, "latency", args.latency_users, args.duration, (1, 3), 10)
    print("capacity, 1 and 3 instances…", flush=True)
    capacity = scenario_pair(raw, "capacity", args.capacity_users, args.duration, (0, 0), 5)
    print("instance failure…", flush=True)
    failure = scenario_failure(raw, args.failure_users, args.duration)
    print("isolation…", flush=True)
    isolation = scenario_isolation(raw, args.isolation_users, args.duration)
    print("scale…", flush=True)
    scale = scenario_scale(raw, args.scale_users, args.scale_duration, args.scale_spawn)
    print("search and export…", flush=True)
    search = scenario_search(raw, args.search_repeat)
    write_report(out_dir, params, info, latency, capacity, failure, isolation, scale, search)
    print("cost per exchange: the engine against the same-stack baseline…", flush=True)
    try:
        cost_options = exchange_cost.options(**({"duration": 10, "warmup": 2, "sessions": 50} if args.quick else {}))
        exchange_cost.write(exchange_cost.run(cost_options, out_dir), out_dir)
    except exchange_cost.WrkMissing as missing:
        print(f"cost per exchange skipped: {missing}", flush=True)
    print(f"report: {os.path.join(out_dir, 'report.md')}")


if __name__ == "__main__":
    main()
