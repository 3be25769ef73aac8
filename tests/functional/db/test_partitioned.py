"""On the partitioned layout (docs/partitioning.md): a few representative functional tests run once more, in a
run of their own whose database has its per-session tables hash-partitioned by session (CHAT_ENGINE_TEST_PARTITIONS,
tests/conftest.py). CI runs only `scripts/test`: this keeps the partitioned layout covered there. The whole suite
runs on it with `CHAT_ENGINE_TEST_PARTITIONS=16 scripts/test`."""
import os
import re
import subprocess
import sys

from support.engine import ROOT

# Sends, the tree (variants, edits, deletes), enqueued replies, forks, reactions with feedback, erasure: every
# per-session table written and read, and a session's delete through all of them.
REPRESENTATIVE = ["tests/functional/api/test_send.py", "tests/functional/chat/test_tree.py",
                  "tests/functional/streams/test_enqueue.py", "tests/functional/api/test_forks.py",
                  "tests/functional/api/test_reaction_feedback.py", "tests/functional/api/test_erasure.py"]


def test_representative_functional_tests_pass_on_the_partitioned_layout():
    env = {**os.environ, "CHAT_ENGINE_TEST_PARTITIONS": "4"}
    env.pop("DATABASE_URL", None)  # the inner run starts its own server, as this one did
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *REPRESENTATIVE],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 35 and "skipped" not in summary, summary
