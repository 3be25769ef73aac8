"""What psycopg's pipeline mode costs under gevent, against plain statements (why app/db.py does not use it).

    python -m loadtests.pipeline_cost --database-url postgresql://postgres@127.0.0.1:5432/postgres

One connection, gevent monkey-patched first (as in the engine, so psycopg picks the same wait
function), 2,000 transactions of two statements each (the first one's row read, as the send path
reads the session it locked), plain and then in pipeline mode. Prints the client's CPU and wall time
per transaction. No server is started: give any PostgreSQL on loopback.
"""
from gevent import monkey

monkey.patch_all()  # before psycopg: it picks its wait function at import

import argparse  # noqa: E402
import time  # noqa: E402

import psycopg  # noqa: E402
import psycopg.waiting  # noqa: E402


def transactions(conn, count, pipeline):
    for _ in range(count):
        if pipeline:
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT 1").fetchone()
                conn.execute("SELECT %s::int", (2,))
        else:
            with conn.transaction():
                conn.execute("SELECT 1").fetchone()
                conn.execute("SELECT %s::int", (2,))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    print(f"psycopg {psycopg.__version__}, wait function {psycopg.waiting.wait.__name__}")
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        for pipeline in (False, True):
            transactions(conn, 200, pipeline)  # warm-up: statements prepared, caches filled
            cpu, wall = time.process_time(), time.perf_counter()
            transactions(conn, args.count, pipeline)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{'pipeline' if pipeline else 'plain':>8}: {cpu / args.count * 1e6:7.0f} µs CPU, "
                  f"{wall / args.count * 1e6:7.0f} µs wall per transaction of two statements")


if __name__ == "__main__":
    main()
