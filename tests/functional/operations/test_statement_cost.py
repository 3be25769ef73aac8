"""loadtests/statement_cost.py runs end to end on a small scale: the engine's and the relay's exchange SQL
against a real PostgreSQL, PostgreSQL's own function timings read back (no figure is judged here)."""
import argparse

from loadtests import statement_cost


def test_the_statement_benchmark_runs_both_sides_and_reads_function_timings():
    result = statement_cost.run(argparse.Namespace(exchanges=30, depths=[3], rounds=1, functions=True))
    windows = result["depths"][0]["windows"]
    assert [w["side"] for w in windows] == ["engine", "relay"]
    assert all(w["pg_cpu_ms"] > 0 for w in windows)
    functions = {t["function"] for t in windows[0]["functions"]}
    assert "send_turn" in functions
    assert "statement-cost:start" in statement_cost.section(result)
