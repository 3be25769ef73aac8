"""What storing a reply's chunks (for rejoins) costs per streamed exchange.

    python -m loadtests.chunk_persistence_cost                 # 15 s per variant
    python -m loadtests.chunk_persistence_cost --duration 10 --warmup 3

The same load as loadtests/exchange_cost.py (wrk, `POST /messages/send` over random sessions, the
counting demo backend: 6 chunks 20 ms apart, one engine instance) against four engine variants, one
after the other, each on a fresh cluster:

- `CHUNK_LOG=off`: no chunk log (the reference);
- `CHUNK_LOG=end`: the chunks stored only with the reply's end, in the statement that stores it;
- default: batches every CHUNK_FLUSH_SECONDS (0.25 s); a reply this short stores its chunks with its
  end, in the transaction that stores the reply anyway;
- `CHUNK_FLUSH_SECONDS=0.01`: a batch for almost every chunk (the worst case: a slow, long reply).

For each: CPU ms per exchange of the engine and of PostgreSQL, exchanges/s, chunk batches stored
per exchange. The machine is shared: compare the ratios to the reference measured in the same run.
Results go to loadtests/reports/<date>/chunk-persistence-cost.json and a section of report.md.
"""
import argparse
import datetime
import os
import tempfile
import time

import psycopg

from loadtests.cluster import ROOT, Cluster
from loadtests.exchange_cost import add_arguments, create_sessions, ensure_wrk, measure, postmaster_pid, write_script
from loadtests.report_sections import write_section

VARIANTS = [("chunk log off (reference)", {"CHUNK_LOG": "off"}),
            ("stored with the end only", {"CHUNK_LOG": "end"}),
            ("batched, default 0.25 s", {}),
            ("a batch per chunk (0.01 s)", {"CHUNK_FLUSH_SECONDS": "0.01"})]
SECTION_START, SECTION_END = "<!-- chunk-persistence-cost:start -->", "<!-- chunk-persistence-cost:end -->"


def batches_per_exchange(database_url, prefix):
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(c.*)::float / nullif(count(DISTINCT m.id), 0) FROM messages m "
            "JOIN sessions s ON s.id = m.session_id LEFT JOIN reply_chunks c "
            "ON c.session_id = m.session_id AND c.message_id = m.id "
            "WHERE s.client_id LIKE %s AND m.role = 'assistant'", (prefix + "-%",)).fetchone()[0]


def run_variant(name, env, args, wrk):
    saved = {key: os.environ.get(key) for key in ("CHUNK_LOG", "CHUNK_FLUSH_SECONDS")}
    os.environ.update(env)
    for key in saved:
        if key not in env:
            os.environ.pop(key, None)
    cluster = Cluster.up(instances=1, workers=args.workers, backend_delay=args.backend_delay,
                         backend_module="loadtests.counting_backend")
    script = None
    try:
        url = cluster.instance_urls()[0]
        pid = cluster.state["pids"][f"engine-{cluster.state['instances'][0]}"]
        roles = {"server": pid, "PostgreSQL": postmaster_pid(cluster), "backend": cluster.state["pids"]["demo_backend"]}
        roles = {role: value for role, value in roles.items() if value}
        prefix = f"chunks-{len(name)}-{int(time.time())}"
        script = write_script(create_sessions(url, prefix, args.sessions), tempfile.gettempdir(),
                              f"chunk-cost-{os.getpid()}")
        result = measure(name, url, prefix, roles, cluster, wrk, script, args)
        result["chunk_batches_per_exchange"] = batches_per_exchange(cluster.database_url, prefix)
        result["env"] = env
        return result
    finally:
        if script:
            os.remove(script)
        cluster.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def section(result):
    rows = result["variants"]
    reference = rows[0]

    def ratio(row, pick):
        base = pick(reference)
        return f"{pick(row) / base:.2f}×" if base and pick(row) is not None else "–"
    lines = [SECTION_START, "", "## What chunk persistence costs per exchange", "",
             f"Measured {result['when']} by `python -m loadtests.chunk_persistence_cost --duration "
             f"{result['params']['duration']}`: the exchange-cost load (wrk, {result['params']['connections']} "
             "connections, 6-chunk replies 20 ms apart, one engine instance with "
             f"{result['params']['workers']} workers) against each variant in turn, each on a fresh cluster. "
             f"Shared {result['cores']}-core machine (load average {result['load_average_before'][0]:.1f} at the "
             "start): read the ratios to the reference, measured in the same run.", "",
             "| variant | exchanges/s | engine CPU ms/exchange | PostgreSQL CPU ms/exchange | all roles | "
             "chunk batches/exchange | engine CPU vs reference | PostgreSQL CPU vs reference |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        per = row["cpu_ms_per_exchange"]
        lines.append(f"| {row['target']} | {row['exchanges_per_s']:.1f} | {per['server']:.2f} | "
                     f"{(per.get('PostgreSQL') or 0):.2f} | {row['total_cpu_ms_per_exchange']:.2f} | "
                     f"{(row['chunk_batches_per_exchange'] or 0):.2f} | "
                     f"{ratio(row, lambda r: r['cpu_ms_per_exchange']['server'])} | "
                     f"{ratio(row, lambda r: r['cpu_ms_per_exchange'].get('PostgreSQL'))} |")
    lines += ["", SECTION_END]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(duration=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out_dir = args.out or os.path.join(ROOT, "loadtests", "reports", datetime.date.today().isoformat())
    os.makedirs(out_dir, exist_ok=True)
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    variants = [run_variant(name, env, args, wrk) for name, env in VARIANTS]
    result = {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "params": {k: v for k, v in vars(args).items() if k != "out"}, "cores": os.cpu_count(),
              "load_average_before": load_before, "variants": variants}
    block = section(result)
    write_section(out_dir, "chunk-persistence-cost", block, result)
    print(block)


if __name__ == "__main__":
    main()
