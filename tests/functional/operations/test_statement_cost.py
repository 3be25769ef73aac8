"""loadtests/statement_cost.py runs end to end on a small scale: the engine's and the relay's exchange SQL
against a real PostgreSQL, the engine's variants made from send_turn's own definition, PostgreSQL's own function
timings read back (no figure is judged here)."""
import argparse

from loadtests import statement_cost


def test_the_statement_benchmark_runs_both_sides_and_reads_function_timings():
    result = statement_cost.run(argparse.Namespace(exchanges=30, depths=[3], rounds=1, functions=True, variants=True))
    windows = result["depths"][0]["windows"]
    assert [w["side"] for w in windows] == ["engine", "relay", "no-chunk-row", "no-live-row"]
    assert all(w["pg_cpu_ms"] > 0 for w in windows)
    functions = {t["function"] for t in windows[0]["functions"]}
    assert "send_turn" in functions
    section = statement_cost.section(result)
    assert "statement-cost:start" in section and "without the live row" in section
