"""Deleting a message and everything below it (DESIGN S15), keeping the tree's invariants.

In one transaction, under the session's row lock (the locking rule of docs/architecture.md):
  1. the message and its subtree are deleted (share recipients' branches below it included);
  2. the siblings after it close the gap in the variant indexes (0..n-1 again);
  3. if it was its group's active variant, the nearest remaining sibling becomes active (the one
     before it first), so the active path continues there; with no sibling left, the active path
     simply ends at the parent;
  4. the session's stored exports are withdrawn: they are snapshots that would keep the deleted text.
Share views, search and histories read the live tree, so the deleted messages are gone from them at once.
"""
from app.db import queries as q
from app.errors import message_not_found


def delete_message(db, caller, message_id):
    """Returns (deleted ids, id of the sibling made active or None)."""
    with db.transaction() as conn:
        row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        if row is None or row["recipient_client_id"] is not None:
            raise message_not_found(message_id)
        q.lock_session(conn, id=row["session_id"], client_id=caller.client_id)
        # Read again under the lock: a concurrent delete may have removed it, or renumbered it.
        row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        if row is None:
            raise message_not_found(message_id)
        place = {"session_id": row["session_id"], "parent_id": row["parent_id"],
                 "variant_index": row["variant_index"]}
        deleted = [r["id"] for r in q.delete_subtree(conn, session_id=row["session_id"], message_id=message_id)]
        q.allow_variant_compaction(conn)
        q.lift_variants_after(conn, **place)
        q.settle_lifted_variants(conn, **place)
        activated = None
        if row["is_active"]:
            successor = q.activate_nearest_sibling(conn, **place)
            activated = successor["id"] if successor else None
        q.withdraw_exports(conn, session_id=row["session_id"])
    return deleted, activated
