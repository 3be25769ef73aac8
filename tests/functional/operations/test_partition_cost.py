"""loadtests/partition_cost.py runs end to end on a small scale: three databases (a git revision's schema, this
release plain and partitioned), the exchange's SQL on each, the generic plans' partitions read back (no figure is
judged here, but pruning is)."""
import argparse
import subprocess

import pytest

from loadtests import partition_cost
from support.engine import ROOT


def test_the_partition_benchmark_runs_three_sides_and_finds_each_hot_statement_on_one_partition():
    if subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: the `before` side is a git revision's sql/")
    result = partition_cost.run(argparse.Namespace(exchanges=20, depths=[3], rounds=1, partitions=4, before="HEAD",
                                                     background=50))
    entry = result["depths"][0]
    assert [w["side"] for w in entry["windows"]] == list(partition_cost.SIDES)
    assert all(w["pg_cpu_ms"] > 0 for w in entry["windows"])
    assert all(len(parts) == len({p.rsplit("_", 1)[0] for p in parts}) and parts
               for label, parts in entry["pruning"].items() if "across sessions" not in label)
    assert "partition-cost:start" in partition_cost.section(result)
