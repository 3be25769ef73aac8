"""The linter's settings (pyproject.toml) hold for the whole tree; CI runs only scripts/test, so it runs here."""
import subprocess
import sys

from support.engine import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
