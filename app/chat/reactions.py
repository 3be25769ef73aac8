"""Reactions (ADR-0024): one per (message, user); `none` removes it; the backend hears afterwards."""
from app.chat import messages
from app.db import queries as q
from app.webhooks import events, outbox


def react(db, caller, message_id, reaction_type):
    """Returns (applied, reaction_type). `applied` is false when nothing changed; a change is told to the
    backend through the outbox, committed with it."""
    with db.transaction() as conn:
        message = messages.owned_visible_message(conn, caller, message_id)
        backend = q.lock_session(conn, id=message["session_id"],
                                              client_id=caller.client_id)
        if reaction_type == "none":
            removed = q.delete_reaction(conn, message_id=message_id, user_id=caller.client_id)
            previous = removed["previous"] if removed else None
        else:
            previous = q.set_reaction(conn, message_id=message_id, user_id=caller.client_id,
                                      reaction_type=reaction_type)["previous"]
        applied = (previous or "none") != reaction_type
        if applied:
            outbox.enqueue(conn, backend["session_type_id"],
                           events.message_reaction(message["session_id"], message_id, caller.client_id,
                                                   reaction_type, previous))
    return applied, reaction_type


def summaries(db, caller, message_ids):
    """{message_id: {"likes", "dislikes", "mine"}} for the messages that have reactions."""
    if not message_ids:
        return {}
    with db.transaction() as conn:
        rows = q.reaction_summaries(conn, message_ids=list(message_ids), user_id=caller.client_id)
    return {row["message_id"]: row for row in rows}
