"""The standard benchmark suite, written to loadtests/reports/<date>/report.md (with Locust's CSV/HTML).

    python -m loadtests.benchmark                     # the full suite (about 15 minutes on 2 cores)
    python -m loadtests.benchmark --quick             # a short smoke run of every scenario

Scenarios, each on a fresh local cluster behind nginx (loadtests/cluster.py):
  1. one instance, then three, under the same chat load: throughput and latency side by side;
  2. failure: three instances, one SIGKILLed mid-run and restarted; requests failed, acknowledged
     replies lost, and how long the balancer kept routing to the dead instance;
  3. isolation: a hanging backend next to a healthy one; the healthy one's errors and p95 compared
     with the healthy-only run;
  4. scale: 10,000 users, one session each, across three instances;
  5. search and export at 10,000 messages in a session and 1,000 sessions for one client.
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
import statistics
import subprocess
import sys
import threading
import time
import uuid

import jwt
import psycopg
import requests
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from importlib.metadata import version as package_version

from app.db import Queries, fetch_all
from launch.embedded_postgres import find_bindir
from loadtests import datacheck
from loadtests.cluster import FAILING_TYPE, HEALTHY_TYPE, JWT_SECRET, ROOT, STATE_DIR, Cluster, ensure_nginx

SEED = Queries(os.path.join(ROOT, "loadtests", "sql"))


def run_locust(cluster, out_dir, name, users, spawn_rate, duration, think=(0.5, 1.5), session_types=None,
               baseline_users=10, during=None):
    """Run Locust headless against the balancer; returns (stats by name, datacheck report, seconds)."""
    prefix = os.path.join(out_dir, name)
    ack_dir = os.path.join(out_dir, f"{name}-acks")
    command = [sys.executable, "-m", "locust", "-f", os.path.join(ROOT, "loadtests", "locustfile.py"), "--headless",
               "--host", cluster.url, "-u", str(users), "-r", str(spawn_rate), "-t", f"{duration}s",
               "--processes", "2", "--csv", prefix, "--html", prefix + ".html", "--only-summary",
               "--direct-url", cluster.state["backend_url"], "--ack-dir", ack_dir,
               "--think-min", str(think[0]), "--think-max", str(think[1]),
               "--baseline-users", str(baseline_users), "--max-error-ratio", "1",
               "--session-types", session_types or HEALTHY_TYPE, "--stop-timeout", "30"]
    started = time.monotonic()
    with open(prefix + ".log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if during:
            during(started)
        process.wait()
    elapsed = time.monotonic() - started
    check = datacheck.check(cluster.database_url, ack_dir)
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
    return {
        "sessions": check["sessions_created_by_clients"],
        "requests": float(stats["Aggregated"]["Request Count"]) - sum(
            float(r["Request Count"]) for n, r in stats.items() if r["Type"] == "METRIC"),
        "failures": float(stats["Aggregated"]["Failure Count"]),
        "rps": sum(float(r["Requests/s"]) for n, r in stats.items() if r["Type"] not in ("METRIC",)
                   and n != "Aggregated" and "direct" not in n),
        "messages_per_s": messages / elapsed if elapsed else 0,
        "create": (stat(stats, "POST /sessions", "50%"), stat(stats, "POST /sessions", "95%"),
                   stat(stats, "POST /sessions", "99%")),
        "ttfc_engine": (stat(stats, "ttfc engine" + label, "50%"), stat(stats, "ttfc engine" + label, "95%"),
                        stat(stats, "ttfc engine" + label, "99%")),
        "ttfc_direct": (stat(stats, "ttfc direct", "50%"), stat(stats, "ttfc direct", "95%"),
                        stat(stats, "ttfc direct", "99%")),
        "acked": check["replies_acknowledged"], "lost": check["acknowledged_replies_lost"], "check_ok": check["ok"],
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

def scenario_scaling(out_dir, users, duration):
    results = {}
    for instances in (1, 3):
        def body(cluster, instances=instances):
            stats, check, elapsed = run_locust(cluster, out_dir, f"chat-{instances}x", users, max(users // 10, 1),
                                               duration)
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
        stats, check, elapsed = run_locust(cluster, out_dir, "failure-3x", users, max(users // 10, 1), duration,
                                           during=lambda started: threading.Thread(
                                               target=chaos, args=(started,), daemon=True).start())
        time.sleep(1.5)  # nginx flushes its access log every second
        timeline = nginx_timeline(marks["port"], marks["killed_wall"], marks["restart_wall"])
        return {**chat_summary(stats, elapsed, check), **timeline, **marks, "check": check}
    return with_cluster(3, body)


def scenario_isolation(out_dir, users, duration):
    def body(cluster):
        stats, check, elapsed = run_locust(cluster, out_dir, "isolation-3x", users, max(users // 10, 1), duration,
                                           session_types=f"{HEALTHY_TYPE},{FAILING_TYPE}")
        return {"healthy": chat_summary(stats, elapsed, check, " [load_demo]"),
                "failing": chat_summary(stats, elapsed, check, " [load_failing]"),
                "healthy_failures": sum(float(r["Failure Count"]) for n, r in stats.items() if n.endswith("[load_demo]")),
                "healthy_requests": sum(float(r["Request Count"]) for n, r in stats.items()
                                        if n.endswith("[load_demo]") and r["Type"] != "METRIC"),
                "failing_failures": sum(float(r["Failure Count"]) for n, r in stats.items()
                                        if n.endswith("[load_failing]")),
                "check": check}
    return with_cluster(3, body, failing_backend="hang")


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
                conn.execute(SEED.seed_session, {"id": session_id, "client_id": client, "session_type_id": HEALTHY_TYPE,
                                                 "metadata": Jsonb({"title": "seeded"})})
            conn.execute(SEED.seed_chain, {"session_ids": [big], "count": 10_000})
            conn.execute(SEED.seed_chain, {"session_ids": [export_session], "count": 1_000})
            conn.execute(SEED.seed_sessions, {"client_id": client, "session_type_id": HEALTHY_TYPE, "count": 998})
            others = [r["id"] for r in fetch_all(conn, SEED.client_sessions_except, client_id=client,
                                                 excluded=[big, export_session])]
            conn.execute(SEED.seed_chain, {"session_ids": others, "count": 10})
            conn.execute("ANALYZE messages")
            words = ["river", "mountain coffee", "garden rocket", "violin", "planet harbor", "running",
                     "budget", "castle island", "\"forest ocean\"", "music -bridge"]
            sid = f"gts.hyperspot.chat_engine.entities.session.v1~{big}"
            in_session = _timed(lambda: http.get(f"{api}/sessions/{sid}/search",
                                                 params={"query": random.choice(words)}).raise_for_status(), repeat)
            floor = _timed(lambda: conn.execute(SEED.search_floor, {"session_id": big,
                                                                    "query": random.choice(words)}).fetchall(), repeat)
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
            "postgres": version([os.path.join(find_bindir(), "postgres"), "--version"]),
            "nginx": subprocess.run([ensure_nginx(), "-v"], capture_output=True, text=True).stderr.strip(),
            "kernel": platform.release(), **packages}


def write_report(out_dir, params, info, scaling, failure, isolation, scale, search):
    one, three = scaling[1], scaling[3]
    lines = [f"# Chat Engine benchmark — {params['date']}", "",
             "## Machine and parameters", "",
             f"- {info['cores']} cores, {info['memory_gib']} GiB; Python {info['python']}; {info['postgres']}; "
             f"{info['nginx']}; kernel {info['kernel']}",
             f"- flask {info['flask']}, gunicorn {info['gunicorn']}, gevent {info['gevent']}, psycopg {info['psycopg']}, "
             f"psycopg-pool {info['psycopg-pool']}, locust {info['locust']}",
             f"- chat runs: {params['users']} users (one session each), {params['duration']} s, think time 0.5–1.5 s, "
             "Locust with 2 worker processes, demo backend streaming 6–7 chunks 20 ms apart, nginx in front; "
             "one gunicorn worker (gevent) per instance, so 1 instance can use one core and 3 can use both",
             "- **What limits these figures:** everything shares the same 2 cores: Locust (2 processes), nginx, "
             "PostgreSQL, the demo backend and the engine instances. Load generation alone takes a large share "
             "of the CPU, so absolute throughput here says little about a dedicated host; the ratios measured "
             "within one run are the meaningful part.", "",
             "## 1 instance vs 3 instances (same load)", "",
             "| | 1 instance | 3 instances |", "|---|---|---|"]
    rows = [("sessions created", "sessions", "{:.0f}"), ("requests (HTTP, excl. baseline)", "requests", "{:.0f}"),
            ("requests/s", "rps", "{:.1f}"), ("messages/s (send+recreate+branch)", "messages_per_s", "{:.1f}"),
            ("failed requests", "failures", "{:.0f}")]
    for title, key, fmt in rows:
        lines.append(f"| {title} | {fmt.format(one[key])} | {fmt.format(three[key])} |")
    for title, key in (("session create p50/p95/p99 ms", "create"),
                       ("time to first chunk, engine, p50/p95/p99 ms", "ttfc_engine"),
                       ("time to first chunk, backend direct (baseline), p50/p95/p99 ms", "ttfc_direct")):
        lines.append(f"| {title} | {_triple(one[key])} | {_triple(three[key])} |")
    for result in (one, three):
        result["overhead"] = tuple(None if e is None or d is None else e - d
                                   for e, d in zip(result["ttfc_engine"], result["ttfc_direct"]))
    lines.append(f"| routing overhead (engine − direct TTFC) p50/p95 ms | {_triple(one['overhead'][:2])} | "
                 f"{_triple(three['overhead'][:2])} |")
    lines.append(f"| routing overhead, engine's own histogram (received → first byte to backend) p50/p95 ms | "
                 f"{_triple(one['overhead_metric'] or (None, None))} | {_triple(three['overhead_metric'] or (None, None))} |")
    lines.append(f"| data check: replies acknowledged / lost | {one['acked']} / {one['lost']} | "
                 f"{three['acked']} / {three['lost']} |")
    ratio = three["messages_per_s"] / one["messages_per_s"] if one["messages_per_s"] else 0
    lines += ["", f"Throughput ratio 3 instances / 1 instance: **{ratio:.2f}×** messages/s at the same offered load.",
              "", "## Instance failure (3 instances, one SIGKILLed and restarted)", "",
              f"- killed instance port {failure['port']} at t≈{params['duration'] / 3:.0f} s, restarted at "
              f"t≈{2 * params['duration'] / 3:.0f} s (ready {failure['ready_after_restart_s']:.1f} s after restart)",
              f"- requests failed in the whole run: **{failure['failures']:.0f}** of {failure['requests']:.0f} "
              f"(nginx saw {failure['failed_via_dead']} requests fail on the dead instance: those in flight, and "
              "non-idempotent POSTs it would not retry elsewhere)",
              f"- the balancer last tried the dead instance {failure['last_attempt_after_kill_s']:.1f} s after the kill "
              "(passive checks: max_fails=1, fail_timeout=5s, so one probe per 5 s until it returned)",
              f"- acknowledged replies lost: **{failure['lost']}** of {failure['acked']}; sessions created "
              f"{failure['check']['sessions_created_by_clients']}, found {failure['check']['sessions_found']}; "
              f"incomplete messages left by the crash: {failure['check']['incomplete_messages']}; tree invariants: "
              f"{'hold' if failure['check']['ok'] else 'VIOLATED'}",
              "", "## Isolation: a hanging backend next to a healthy one (3 instances)", "",
              f"Half the users talk to a backend that never answers message events (session type timeout 5 s); "
              f"the other half to the healthy demo backend.", "",
              "| healthy backend's sessions | healthy-only run (3 instances) | mixed run |", "|---|---|---|",
              f"| failed requests | {three['failures']:.0f} of {three['requests']:.0f} | "
              f"{isolation['healthy_failures']:.0f} of {isolation['healthy_requests']:.0f} |",
              f"| time to first chunk p50/p95/p99 ms | {_triple(three['ttfc_engine'])} | "
              f"{_triple(isolation['healthy']['ttfc_engine'])} |",
              "", f"The hanging backend's sessions failed {isolation['failing_failures']:.0f} requests (timeouts, "
              "then fail-fast 503s once its breaker opened), as they should.",
              "", "## Scale: 10,000 sessions across 3 instances", "",
              f"- users: {params['scale_users']} (one session each), spawn rate {params['scale_spawn']}/s, "
              f"{params['scale_duration']} s, think time 30–60 s",
              f"- sessions created: **{scale['check']['sessions_created_by_clients']}**, found in the database: "
              f"{scale['check']['sessions_found']}; failed requests {scale['failures']:.0f} of {scale['requests']:.0f}",
              f"- session create p50/p95/p99: {_triple(scale['create'])} ms",
              f"- time to first chunk engine p50/p95/p99: {_triple(scale['ttfc_engine'])} ms; direct baseline "
              f"{_triple(scale['ttfc_direct'])} ms; engine's own routing-overhead histogram p50/p95: "
              f"{_triple(scale['overhead_metric'] or (None, None))} ms",
              f"- replies acknowledged / lost: {scale['acked']} / {scale['lost']}; tree invariants "
              f"{'hold' if scale['check']['ok'] else 'VIOLATED'}",
              "", "## Search and export", "",
              "One session with 10,000 messages and one client with 1,000 sessions; p50 / p95 ms over "
              f"{params['search_repeat']} requests through nginx and one instance.", "",
              "| | p50 | p95 | target (p95) |", "|---|---|---|---|",
              f"| in-session search (10,000 messages) | {_ms(search['in_session'][0])} | {_ms(search['in_session'][1])} "
              "| < 1000 |",
              f"| same query as raw SQL (baseline, no HTTP) | {_ms(search['floor'][0])} | {_ms(search['floor'][1])} | |",
              f"| cross-session search (1,000 sessions) | {_ms(search['across'][0])} | {_ms(search['across'][1])} "
              "| < 3000 |",
              f"| export of 1,000 messages (markdown, scope all, create + download) | {_ms(search['export'][0])} | "
              f"{_ms(search['export'][1])} | < 5000 |", ""]
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(lines))
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump({"params": params, "machine": info, "scaling": scaling, "failure": failure,
                   "isolation": isolation, "scale": scale, "search": search}, handle, indent=2, default=str)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--scale-users", type=int, default=10_000)
    parser.add_argument("--scale-duration", type=int, default=180)
    parser.add_argument("--scale-spawn", type=int, default=100)
    parser.add_argument("--search-repeat", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="small, short runs of every scenario")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.users, args.duration, args.scale_users, args.scale_duration, args.search_repeat = 30, 15, 200, 20, 10
    date = datetime.date.today().isoformat()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", date)
    raw = os.path.join(out_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    params = {"date": date, "users": args.users, "duration": args.duration, "scale_users": args.scale_users,
              "scale_duration": args.scale_duration, "scale_spawn": args.scale_spawn,
              "search_repeat": args.search_repeat}
    print("machine…", flush=True)
    info = machine()
    print("1 vs 3 instances…", flush=True)
    scaling = scenario_scaling(raw, args.users, args.duration)
    print("instance failure…", flush=True)
    failure = scenario_failure(raw, args.users, args.duration)
    print("isolation…", flush=True)
    isolation = scenario_isolation(raw, args.users, args.duration)
    print("scale…", flush=True)
    scale = scenario_scale(raw, args.scale_users, args.scale_duration, args.scale_spawn)
    print("search and export…", flush=True)
    search = scenario_search(raw, args.search_repeat)
    write_report(out_dir, params, info, scaling, failure, isolation, scale, search)
    print(f"report: {os.path.join(out_dir, 'report.md')}")


if __name__ == "__main__":
    main()
