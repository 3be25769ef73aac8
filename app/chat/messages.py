"""Reading and navigating the message tree (ADR-0001, 0014-0017)."""
from app.chat import cursors
from app.config import DEFAULT_SIBLING_PAGE_MAX_BYTES
from app.db import queries as q
from app.errors import conflict, invalid, message_not_found, session_not_found


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


def sibling_page(conn, session_id, parent_id, limit, cursor, max_bytes):
    """(rows, next_cursor): the owner's visible children of a node (parent None = the roots) by
    variant_index, at most `limit` of them and at most `max_bytes` of content as PostgreSQL writes it
    as JSON (one larger sibling alone), filtered and bounded by the query itself: never every sibling,
    nor every sibling's content. The children and variants listings share it and its cursor."""
    (after_index,) = cursors.decode("variants", cursor) or (-1,)
    rows = q.sibling_page(conn, session_id=session_id, parent_id=parent_id, after_index=after_index, limit=limit,
                          max_bytes=max_bytes)
    more = bool(rows) and rows[-1]["more"]
    return rows, cursors.encode("variants", rows[-1]["variant_index"]) if more else None


def too_many_variants(max_siblings, field):
    """409 for a new variant (sibling) past MAX_SIBLINGS_PER_PARENT: recreate, branch, edit, post."""
    return conflict(f"this message already has {max_siblings} variants, the most one place in the tree may hold "
                    f"(MAX_SIBLINGS_PER_PARENT); delete one before adding another", reason="too_many_variants",
                    field=field)


def list_messages(db, caller, session_id, parent_id=None, children=False, limit=100, cursor=None,
                  max_bytes=DEFAULT_SIBLING_PAGE_MAX_BYTES):
    """(rows, next_cursor): a page of the active path (default), or of the children of a node
    (children=True; parent None = the roots), at most `limit` messages (children: and about
    `max_bytes` of content)."""
    with db.read() as conn:
        if q.get_session(conn, id=session_id, client_id=caller.client_id) is None:
            raise session_not_found(session_id)
        if not children:
            (after_id,) = cursors.decode("messages", cursor) or (None,)
            walked, next_cursor = path_page("messages", q.active_path_page(
                conn, session_id=session_id, after_id=after_id, limit=limit + 1), limit)
            return with_variant_counts(conn, session_id, _visible(walked)), next_cursor
        if parent_id is not None:
            parent = owned_visible_message(conn, caller, parent_id)
            if parent["session_id"] != session_id:
                raise message_not_found(parent_id)
        return sibling_page(conn, session_id, parent_id, limit, cursor, max_bytes)


def get_message(db, caller, message_id):
    with db.read() as conn:
        row = owned_visible_message(conn, caller, message_id)
        return with_variant_counts(conn, row["session_id"], [row])[0]


def variants(db, caller, message_id, limit=100, cursor=None, max_bytes=DEFAULT_SIBLING_PAGE_MAX_BYTES):
    """(siblings, current_index, next_cursor): a page of a message's siblings (same parent, itself
    included) by variant index, as sibling_page bounds it, and the active one's index, wherever it is."""
    with db.read() as conn:
        row = owned_visible_message(conn, caller, message_id)
        siblings, next_cursor = sibling_page(conn, row["session_id"], row["parent_id"], limit, cursor, max_bytes)
        current = q.active_sibling_index(conn, session_id=row["session_id"], parent_id=row["parent_id"])
    return siblings, row["variant_index"] if current is None else current, next_cursor


def activate(db, caller, message_id):
    """Make a message (and its ancestors) the active variant, so the next send continues below it."""
    with db.transaction() as conn:
        row = owned_visible_message(conn, caller, message_id)
        if q.lock_session(conn, id=row["session_id"], client_id=caller.client_id) is None:
            raise message_not_found(message_id)  # its session was deleted meanwhile
        # A delete that held the lock has committed by now, and each statement below reads afresh: a
        # message deleted meanwhile activates nothing and is a 404, never a 500.
        q.activate_path(conn, session_id=row["session_id"], message_id=message_id)
        row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        if row is None:
            raise message_not_found(message_id)
        return with_variant_counts(conn, row["session_id"], [row])[0]


def get_reply(db, caller, message_id):
    """One of the caller's assistant messages (something that streamed), else 404 / 400. Only its head:
    never its content, which a rejoin reads in bounded pieces."""
    with db.transaction() as conn:
        row = q.owned_reply_head(conn, message_id=message_id, client_id=caller.client_id)
    if row is None or row["is_hidden_from_user"] or row["recipient_client_id"] is not None:
        raise message_not_found(message_id)
    if row["role"] != "assistant":
        raise invalid("only assistant messages stream", field="id", code="not_assistant")
    return row
