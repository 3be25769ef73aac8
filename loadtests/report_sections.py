"""One generated section of loadtests/reports/<date>/report.md, between its markers, replaced on each run,
plus the run's results as JSON next to it. Hand-written notes outside the markers are kept."""
import datetime
import json
import os

REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")


def report_dir(out=None):
    """Where a run writes: `--out`, or today's loadtests/reports/<date>/ (created)."""
    path = out or os.path.join(REPORTS, datetime.date.today().isoformat())
    os.makedirs(path, exist_ok=True)
    return path


def write_section(out_dir, name, block, result, filename="report.md"):
    """`name` gives the markers (<!-- name:start --> … <!-- name:end -->) and the JSON file (name.json); `filename`
    the report it goes into, in `out_dir`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if not block.startswith(start) or not block.rstrip().endswith(end):
        raise ValueError(f"a {name} section must begin and end with its markers")
    path = os.path.join(out_dir, filename)
    text = open(path).read() if os.path.exists(path) else f"# Chat Engine benchmark — {result['when'][:10]}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as handle:
        handle.write(text)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    return path
