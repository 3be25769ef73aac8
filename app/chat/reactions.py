"""Reactions (ADR-0024): one per (message, user); `none` removes it; the backend hears afterwards."""
import base64
import json

from app.chat import messages
from app.db import queries as q
from app.webhooks import events, outbox

FEEDBACK_HEADER = "X-Chat-Engine-Reaction-Feedback"


def feedback_header(comment, reasons):
    """The notice's header for a reaction's feedback: {"comment", "reasons"} as JSON, base64url without
    padding (the contract's MessageReactionEvent allows no other property, so it cannot be in the body)."""
    text = json.dumps({"comment": comment, "reasons": reasons}, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def react(db, caller, message_id, reaction_type, comment=None, reasons=()):
    """Returns (applied, reaction_type). `applied` is false when nothing changed (the type and the feedback,
    `comment` and `reasons`); a change is told to the backend through the outbox, committed with it."""
    reasons = list(dict.fromkeys(reasons or ()))  # each tag once, in the order given
    with db.transaction() as conn:
        message = messages.owned_visible_message(conn, caller, message_id)
        backend = q.lock_session(conn, id=message["session_id"],
                                              client_id=caller.client_id)
        feedback_changed = False
        if reaction_type == "none":
            removed = q.delete_reaction(conn, session_id=message["session_id"], message_id=message_id,
                                        user_id=caller.client_id)
            previous = removed["previous"] if removed else None
        else:
            stored = q.set_reaction(conn, session_id=message["session_id"], message_id=message_id,
                                    user_id=caller.client_id,
                                    reaction_type=reaction_type, comment=comment or None, reasons=reasons)
            previous, feedback_changed = stored["previous"], stored["feedback_changed"]
        applied = (previous or "none") != reaction_type or feedback_changed
        if applied:
            has_feedback = bool(comment or reasons)
            outbox.enqueue(conn, backend["session_type_id"],
                           events.message_reaction(message["session_id"], message_id, caller.client_id,
                                                   reaction_type, previous),
                           headers={FEEDBACK_HEADER: feedback_header(comment or None, reasons)} if has_feedback
                           else None)
            q.withdraw_exports(conn, session_id=message["session_id"])  # snapshots without this reaction
    return applied, reaction_type


def summaries(db, caller, message_ids):
    """{message_id: {"likes", "dislikes", "mine"}} for the messages (of one session) that have reactions."""
    if not message_ids:
        return {}
    with db.transaction() as conn:
        rows = q.reaction_summaries(conn, message_ids=list(message_ids), user_id=caller.client_id)
    return {row["message_id"]: row for row in rows}
