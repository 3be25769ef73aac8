"""After a run: nothing acknowledged is lost and the tree is intact.

    python -m loadtests.datacheck --database-url URL --ack-dir DIR

Checks that every reply whose `complete` a client received exists exactly once and is complete,
that every session a client created exists, and that the tree invariants hold (no orphans, no
cross-session parents, one active sibling per group, gap-free variant indexes). Prints the counts;
exits 1 on any violation.
"""
import argparse
import glob
import json
import os
import sys

import psycopg
from psycopg.rows import dict_row

from app.db import checks


def read_acks(directory):
    sessions, replies = set(), set()
    for path in glob.glob(os.path.join(directory, "acks-*.txt")):
        with open(path) as handle:
            for line in handle:
                kind, _, value = line.strip().partition(" ")
                (sessions if kind == "session" else replies).add(value)
    return sessions, replies


def check(database_url, ack_dir):
    sessions, replies = read_acks(ack_dir)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        invariants = checks()
        found_sessions = invariants.count_existing_sessions(conn, ids=list(sessions))
        complete_replies = invariants.count_complete_messages(conn, ids=list(replies))
        totals = invariants.database_totals(conn)
        violations = invariants.tree_violations(conn)
    report = {
        "sessions_created_by_clients": len(sessions), "sessions_found": found_sessions,
        "sessions_in_database": totals["sessions"],
        "replies_acknowledged": len(replies), "replies_found_complete": complete_replies,
        "acknowledged_replies_lost": len(replies) - complete_replies,
        "messages_in_database": totals["messages"], "incomplete_messages": totals["incomplete"],
        **violations,
    }
    report["ok"] = (found_sessions == len(sessions) and complete_replies == len(replies)
                    and not any(violations.values()))
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--ack-dir", required=True)
    args = parser.parse_args()
    report = check(args.database_url, args.ack_dir)
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
