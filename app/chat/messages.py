"""Reading and navigating the message tree (ADR-0001, 0014-0017)."""
from app.chat import cursors
from app.db import queries as q
from app.errors import invalid, message_not_found, session_not_found


def _visible(rows):
    return [r for r in rows if not r["is_hidden_from_user"] and r["recipient_client_id"] is None]


def with_variant_counts(conn, session_id, rows, recipient=None):
    """Set each row's `total_variants`: the siblings the viewer sees at its place (one query for all)."""
    parents = {row["parent_id"] for row in rows}
    if parents:
        rows_by_parent = q.variant_counts(conn, session_id=session_id,
                                          parent_ids=[p for p in parents if p is not None],
                                          with_roots=None in parents, recipient=recipient)
        counts = {c["parent_id"]: c["total"] for c in rows_by_parent}
        for row in rows:
            row["total_variants"] = counts.get(row["parent_id"], 1)
    return rows


def owned_visible_message(conn, caller, message_id):
    """A message of the caller's own tree that the client may see, else 404."""
    row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
    if row is None or row["is_hidden_from_user"] or row["recipient_client_id"] is not None:
        raise message_not_found(message_id)
    return row


def path_page(listing, rows, limit):
    """`rows` walked with limit + 1: the page's rows and the cursor to the next page (None at the end)."""
    page = rows[:limit]
    return page, cursors.encode(listing, page[-1]["id"]) if len(rows) > limit else None


def list_messages(db, caller, session_id, parent_id=None, children=False, limit=100, cursor=None):
    """(rows, next_cursor): a page of the active path (default), or of the children of a node
    (children=True; parent None = the roots), at most `limit` messages."""
    with db.transaction() as conn:
        if q.get_session(conn, id=session_id, client_id=caller.client_id) is None:
            raise session_not_found(session_id)
        if not children:
            (after_id,) = cursors.decode("messages", cursor) or (None,)
            walked, next_cursor = path_page("messages", q.active_path_page(
                conn, session_id=session_id, after_id=after_id, limit=limit + 1), limit)
            return with_variant_counts(conn, session_id, _visible(walked)), next_cursor
        (after_index,) = cursors.decode("variants", cursor) or (-1,)
        if parent_id is not None:
            parent = owned_visible_message(conn, caller, parent_id)
            if parent["session_id"] != session_id:
                raise message_not_found(parent_id)
        rows = [r for r in q.children(conn, session_id=session_id, parent_id=parent_id)
                if r["variant_index"] > after_index]
    page = rows[:limit]
    next_cursor = cursors.encode("variants", page[-1]["variant_index"]) if len(rows) > limit else None
    return _visible(page), next_cursor


def get_message(db, caller, message_id):
    with db.transaction() as conn:
        row = owned_visible_message(conn, caller, message_id)
        return with_variant_counts(conn, row["session_id"], [row])[0]


def variants(db, caller, message_id):
    """All siblings of a message (same parent), by variant index."""
    with db.transaction() as conn:
        row = owned_visible_message(conn, caller, message_id)
        siblings = q.children(conn, session_id=row["session_id"], parent_id=row["parent_id"])
    return row, _visible(siblings)


def activate(db, caller, message_id):
    """Make a message (and its ancestors) the active variant, so the next send continues below it."""
    with db.transaction() as conn:
        row = owned_visible_message(conn, caller, message_id)
        q.lock_session(conn, id=row["session_id"], client_id=caller.client_id)
        q.activate_path(conn, session_id=row["session_id"], message_id=message_id)
        row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        return with_variant_counts(conn, row["session_id"], [row])[0]


def get_reply(db, caller, message_id):
    """One of the caller's assistant messages (something that streamed), else 404 / 400."""
    with db.transaction() as conn:
        row = owned_visible_message(conn, caller, message_id)
    if row["role"] != "assistant":
        raise invalid("only assistant messages stream", field="id", code="not_assistant")
    return row
