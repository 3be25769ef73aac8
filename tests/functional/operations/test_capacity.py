"""loadtests/capacity.py runs end to end on a small scale (a real cluster, wrk, PostgreSQL) and every figure
docs/scaling.md cites from it is there and plausible (no figure is judged against a target here)."""
import argparse

import pytest

from loadtests import capacity, exchange_cost

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_the_capacity_benchmark_reports_every_figure(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # its own embedded PostgreSQL, whose CPU it can count
    try:
        wrk = exchange_cost.ensure_wrk()
    except exchange_cost.WrkMissing as missing:
        pytest.skip(str(missing))
    parser = argparse.ArgumentParser()
    capacity.add_arguments(parser)
    args = parser.parse_args(["--depths", "3", "--duration", "3", "--warmup", "1", "--read-duration", "2", "--rounds",
                              "1", "--connections", "4", "--threads", "1", "--sessions", "20", "--workers", "1"])
    entry = capacity.run_depth(3, args, wrk)
    figures = capacity.figures(entry)
    assert figures["exchanges"] > 0
    assert all(figures[name] > 0 for name in ("engine_ms", "postgres_ms", "page_engine_ms", "page_PostgreSQL_ms",
                                              "list_engine_ms", "list_PostgreSQL_ms"))
    # Every exchange writes two messages: more than their content, and WAL for them.
    assert figures["content_bytes"] > 0 and figures["wal_bytes"] > figures["content_bytes"]
    assert figures["stored_bytes"] >= 0 and figures["toast_bytes"] >= 0
    # One worker: its pool (10), its reserved pool (2) and its listener; under load it used some, never more.
    assert figures["connection_bound"] == 13
    assert 1 <= figures["connections_open"] <= figures["connection_bound"]
    reads = entry["rounds"][0]["reads"]
    assert reads["message page"]["non_2xx"] == 0 and reads["session list"]["non_2xx"] == 0
    section = capacity.section({"when": "now", "commit": "test", "cores": 2, "load_average_before": [0.0],
                                "load_average_after": [0.0], "params": vars(args), "depths": [entry]})
    assert section.startswith("<!-- capacity:start -->") and "| 3 |" in section
