"""Deleting in bulk: everything of one client (`DELETE /api/v1/me/data`) and the sessions past their type's
`retention_days` (the retention sweep).

Work goes in batches of BATCH sessions, each a short transaction of its own (no lock held for long, and an
erasure interrupted half-way is finished by calling it again). Every session deleted tells its backend
`session.deleted` through the outbox, committed with the delete.

The retention sweep runs once per RETENTION_SWEEP_SECONDS across all instances: whichever worker first finds
the `maintenance_runs` row older than that takes it (one UPDATE; no lock outlives it, so it works through a
transaction pooler too). It scans `sessions` for candidates (no index on `updated_at`, which every exchange
updates: migration 018), then deletes them in batches, each still past its retention when deleted.
"""
import logging
import uuid

from app.db import queries as q
from app.webhooks import events, outbox

log = logging.getLogger(__name__)

BATCH = 50
RETENTION_RUN = "retention"
CANDIDATES_PER_SCAN = 10_000
COUNTED = ("sessions", "messages", "shares", "exports", "reactions", "chunk_batches", "idempotency_records")


def _erase_sessions(conn, ids, stale_only):
    """Returns the erase_sessions row; each deleted session's backend notice is written with it."""
    erased = q.erase_sessions(conn, ids=ids, stale_only=stale_only)
    gone = [uuid.UUID(session["id"]) for session in erased["sessions"]]
    q.forget_session_notices(conn, ids=gone)  # what they hold of the sessions goes too
    for session in erased["sessions"]:
        outbox.enqueue(conn, session["session_type_id"], events.session_deleted(uuid.UUID(session["id"])))
    return erased


def _add(counts, row):
    for name in COUNTED:
        if name == "sessions":
            counts[name] += len(row.get("sessions") or ())
        else:
            counts[name] += row.get(name) or 0


def erase_client(db, caller):
    """Everything of the caller: its sessions with all under them (messages, shares, exports, chunk logs,
    reactions), then what it left elsewhere: its reactions, exports and idempotency records, and its
    branches as a share recipient in others' sessions. Returns the counts of what was deleted."""
    counts = dict.fromkeys(COUNTED, 0)
    while True:
        with db.transaction() as conn:
            ids = [row["id"] for row in q.sessions_of_client(conn, client_id=caller.client_id, limit=BATCH)]
            if ids:
                q.lock_sessions(conn, ids=ids)
                _add(counts, _erase_sessions(conn, ids, stale_only=False))
        if len(ids) < BATCH:
            break
    with db.transaction() as conn:
        q.lock_sessions_with_recipient_messages(conn, client_id=caller.client_id)  # the locking rule: sessions first
        _add(counts, q.erase_client_records(conn, client_id=caller.client_id))
        messages, chunk_batches = _erase_recipient_branches(conn, caller.client_id)
        counts["messages"] += messages
        counts["chunk_batches"] += chunk_batches
    return counts


def _erase_recipient_branches(conn, client_id):
    """A share recipient's branches, each from its first message down, keeping the owners' trees whole:
    variant indexes closed up behind each (as deletion.delete_message does), the owner's active path
    untouched (a recipient's messages are never on it). Its sessions are locked already. Returns how many
    messages and stored chunk batches went."""
    roots = q.recipient_branch_roots(conn, client_id=client_id)
    if not roots:
        return 0, 0
    chunk_batches = q.recipient_chunk_batches(conn, client_id=client_id)
    q.allow_variant_compaction(conn)
    deleted = 0
    for root in roots:
        deleted += len(q.delete_subtree(conn, session_id=root["session_id"], message_id=root["id"]))
        place = {"session_id": root["session_id"], "parent_id": root["parent_id"],
                 "variant_index": root["variant_index"]}
        q.lift_variants_after(conn, **place)
        q.settle_lifted_variants(conn, **place)
    for session_id in {root["session_id"] for root in roots}:
        q.withdraw_exports(conn, session_id=session_id)  # snapshots that may hold the deleted branches
    return deleted, chunk_batches


def sweep_retention(db, every_seconds):
    """Delete the sessions past their type's retention_days, if this worker's turn has come (see the
    module doc). Returns how many were deleted (0 when another worker had the turn)."""
    with db.transaction() as conn:
        if not q.start_maintenance_run(conn, name=RETENTION_RUN, every_seconds=every_seconds):
            return 0
    deleted = 0
    while True:
        with db.transaction() as conn:
            candidates = [row["id"] for row in q.stale_sessions(conn, limit=CANDIDATES_PER_SCAN)]
        for start in range(0, len(candidates), BATCH):
            with db.transaction() as conn:
                deleted += len(_erase_sessions(conn, candidates[start:start + BATCH], stale_only=True)["sessions"])
        if len(candidates) < CANDIDATES_PER_SCAN:
            break
    if deleted:
        log.info("retention: %d sessions deleted", deleted)
    return deleted
