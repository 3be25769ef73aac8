"""Send, recreate, summarize: the database work before and after a backend call (the hot path).

`start_*` runs transaction 1 (lock the session, place the new messages in the tree, read the
history) and returns an Exchange; the relay calls the backend with no connection held, then
`Exchange.save` runs transaction 2. A session whose reply still streams raises Busy, an Idempotency-Key
seen before raises idempotency.Replayed: what follows is the streaming layer's (app.streams.starting).
"""
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property

import gevent
from psycopg.types.json import Jsonb

from app import ids
from app.chat import capabilities, messages, paths, replies, shares
from app.db import queries as q
from app.errors import (
    conflict,
    database_unreachable,
    invalid,
    message_not_found,
    refused_by_database,
    session_not_found,
)
from app.webhooks import events, outbox
from app.webhooks.client import Target

log = logging.getLogger(__name__)

SAVE_RETRY_SECONDS = 30  # as long as the reserved pool waits for a connection (app/db.py)


@dataclass
class Exchange:
    db: object
    webhooks: object
    session_id: uuid.UUID
    message_id: uuid.UUID
    target: Target
    stream: object
    payload: dict  # the event sent to the backend; the stream is started with it, so it cannot be missing
    user_message_id: uuid.UUID = None
    live: bool = False  # a live_replies row stands for it: leased, stoppable and rejoinable anywhere
    # Set (to the session owner's client id) when, once this reply is stored complete, the session's path has
    # grown auto_summary_every_messages past its last summary: a summary is then asked for in the background
    # (app/streams/follow_ups.py).
    summary_owner: str = None
    # Set when its end is stored and replies wait in its session (if_busy enqueue): the next is started.
    queue_waiting: bool = False
    # A recreate: its `complete` line tells the new variant's place ("2 of 3"), read when it is stored.
    tells_variant: bool = False
    variant_info: dict = None
    # Its notices go to the session type's webhook as it is at delivery (None), or to this target's URL.
    notices_to_target = False

    @cached_property  # on every chunk line
    def public_message_id(self):
        return ids.message_gts(self.message_id)

    def start_event(self):
        return {"type": "start", "message_id": self.public_message_id}

    def headers(self):
        headers = {"X-Assistant-Message-Id": self.public_message_id}
        if self.user_message_id:
            headers["X-User-Message-Id"] = ids.message_gts(self.user_message_id)
        return headers

    def save(self, parts, metadata, outcome, tail=None):
        """Transaction 2. `tail`: (index of the first chunk not yet stored, those chunks). Returns False
        when the reply had already been ended elsewhere (stopped, superseded, or swept as interrupted
        after its lease lapsed): what is stored is that party's, and this reply is not complete."""
        metadata = replies.end_metadata(metadata, outcome.stop_reason)
        # Its client has the chunks: an outage or a failover is waited out, not a reason to
        # throw the reply away. The pools re-dial meanwhile; the deadline bounds how long the relay waits.
        deadline = time.monotonic() + SAVE_RETRY_SECONDS
        attempt = 0
        while True:
            try:
                return self._store(parts, metadata, outcome, tail, retry=attempt > 0)
            except Exception as exc:
                if self.live and refused_by_database(exc):
                    # Refused for what it carries: a retry cannot help, and the live row must not keep
                    # the session busy. The relay still tells its client that the reply was not stored.
                    replies.end_unstored(self.db, self.session_id, self.message_id)
                    raise
                if not database_unreachable(exc) or time.monotonic() >= deadline:
                    raise
                attempt += 1
                log.warning("reply %s: saving it waits for the database (%s)", self.message_id, exc)
                gevent.sleep(min(0.25 * attempt, 1.0))

    def _store(self, parts, metadata, outcome, tail, retry):
        with self.db.transaction(reserved=True) as conn:  # never queued behind requests being shed
            if not self.live:
                q.finish_assistant_message(conn, message_id=self.message_id, session_id=self.session_id,
                                           content=Jsonb(parts), is_complete=outcome.complete,
                                           metadata=Jsonb(metadata))
                self._tell_backend(conn, parts, outcome)
                return True
            first_index, chunks = tail or (0, [])
            finished = q.finish_live_reply(conn, message_id=self.message_id, session_id=self.session_id,
                                           content=Jsonb(parts), is_complete=outcome.complete,
                                           metadata=Jsonb(metadata), batches=replies.chunk_rows(first_index, chunks))
            if finished is not None:
                self.queue_waiting = finished["queue_waiting"]
                self._tell_backend(conn, parts, outcome)
                if self.tells_variant:
                    self.variant_info = q.variant_place(conn, session_id=self.session_id, message_id=self.message_id)
                return True
            if not retry:
                return False
            # A retry that finds the reply ended: the attempt before may have committed before its
            # connection died (its answer lost), or another party ended it. The stored end tells which.
            stored = q.reply_end(conn, session_id=self.session_id, message_id=self.message_id)
            return stored is not None and stored["is_complete"] == outcome.complete \
                and stored["stop_reason"] == metadata.get("stop_reason") and stored["content"] == parts

    def _tell_backend(self, conn, parts, outcome):
        """`message.aborted` for a reply that did not complete, when the outcome says so, committed with it."""
        if outcome.tells_backend:
            outbox.enqueue(conn, self.target.session_type_id,
                           events.message_aborted(self.session_id, self.message_id, parts),
                           url=self.target.url if self.notices_to_target else None)


@dataclass
class SummaryExchange(Exchange):
    """A summary streams like a reply but is stored in the session's metadata under "summary", with the
    last message it covers and the length of the path it summarized (what auto summaries count from)."""
    covers_through: uuid.UUID = None  # the last message of the path summarized
    path_messages: int = 0            # how many messages that path held
    background: bool = False          # asked for by the engine (auto_summary_every_messages), not a client
    notices_to_target = True  # the summarizer, which may be another service than the chat backend

    def save(self, parts, metadata, outcome, tail=None):
        text = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
        summary = {"summary_id": self.public_message_id, "text": text, "is_complete": outcome.complete,
                   "session_type_id": self.target.session_type_id,
                   "created_at": events.now_iso(), "metadata": replies.end_metadata(metadata, outcome.stop_reason),
                   "covers_through_message_id": ids.message_gts(self.covers_through),
                   "path_messages": self.path_messages}
        with self.db.transaction(reserved=True) as conn:
            if outcome.complete or not self.background:  # a failed background summary keeps the last one
                q.store_summary(conn, id=self.session_id, summary=Jsonb(summary))
            if self.background:
                q.release_summary_run(conn, session_id=self.session_id)
            self._tell_backend(conn, parts, outcome)
        return True


def _target(session):
    return Target.of(session["session_type_id"], session["webhook_url"], session)


class _Admission:
    """Breaker admission taken inside transaction 1, so an open breaker stores nothing. If the
    exchange then fails to start (404, 400, a failed commit), the admission is given back."""

    def __init__(self, webhooks):
        self.webhooks = webhooks
        self.stream = None

    def admit(self, target, event):
        self.stream = self.webhooks.stream(target, event)
        return self.stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None and self.stream is not None:
            self.stream.finish(counts=False)
        return False


@dataclass
class Options:
    """How a send or recreate behaves beyond its content."""
    resumable: bool = False       # a client disconnect does not stop the reply
    if_busy: str = "reject"       # the session's reply still streams: reject, interrupt or parallel
    idempotency: object = None    # app.chat.idempotency.Claim, written with the new messages


class Busy(Exception):
    """The session's active path ends in a reply still streaming (a send or recreate with if_busy other
    than parallel): what to do about it is the caller's policy (app.streams.starting)."""

    def __init__(self, session_id, message_id, lapsed):
        super().__init__("a reply is still streaming")
        self.session_id = session_id
        self.message_id = message_id
        self.lapsed = lapsed  # its lease lapsed: its instance stopped renewing it


@dataclass(frozen=True)
class Turn:
    """One user message and the reply it asks for: what is placed, where, by whom, how."""
    content: str
    file_ids: tuple = ()
    enabled: list = None          # the capabilities asked for (None: the session's defaults)
    parent_id: uuid.UUID = None   # a branch: below this message instead of the active leaf
    edited_id: uuid.UUID = None   # an edit: the next variant of this user message
    recipient: str = None         # a share recipient's turn (their client id), on their own branch
    options: Options = field(default_factory=Options)
    user_message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    assistant_message_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def continues_active_leaf(self):
        return self.parent_id is None and self.edited_id is None and self.recipient is None

    @property
    def content_parts(self):
        return Jsonb([{"type": "text", "text": self.content}])


def _live_row(options, config):
    """The new reply's live row (written with it): leased to this instance while it streams."""
    return {"resumable": options.resumable, "lease_seconds": config.lease_seconds}


def start_send(db, webhooks, caller, session_id, content, parent_id=None, file_ids=(), enabled=None,
               edited_id=None, options=None):
    """A user turn below the active leaf, below `parent_id` (a branch), or, with `edited_id`, as the
    next variant of that user message (an edit: same parent, so the first message can be edited too)."""
    turn = Turn(content, tuple(file_ids), enabled, parent_id, edited_id, options=options or Options())
    if turn.continues_active_leaf:
        return _start_continuing(db, webhooks, caller, session_id, turn)
    return _start_turn(db, webhooks, turn, lock=lambda conn: q.lock_session(conn, id=session_id,
                                                                             client_id=caller.client_id),
                       missing=lambda: session_not_found(session_id))


def start_shared_send(db, webhooks, caller, token, content, file_ids=(), enabled=None, options=None):
    """A share recipient's message: it continues the recipient's own branch, which starts below the
    owner's last message; the owner's active path and flags are never touched."""
    turn = Turn(content, tuple(file_ids), enabled, recipient=caller.client_id,
                options=options or Options(if_busy="parallel"))
    return _start_turn(db, webhooks, turn, lock=lambda conn: q.lock_session_by_share(
        conn, token_hash=shares.hash_token(token)), missing=shares.share_gone)


def _start_continuing(db, webhooks, caller, session_id, turn):
    """The common send, below the owner's active leaf: lock, walk, busy check and inserts in one call
    (sql/functions/sends.sql: send_turn): BEGIN, the call, COMMIT. With an Idempotency-Key the
    key is checked under the lock first (the call then finds the lock already held)."""
    with _Admission(webhooks) as admission, db.transaction() as conn:
        if turn.options.idempotency is not None:
            if q.lock_session(conn, id=session_id, client_id=caller.client_id) is None:
                raise session_not_found(session_id)
            turn.options.idempotency.check(conn)
        placed = q.send_turn(
            conn, session_id=session_id, client_id=caller.client_id, check_busy=turn.options.if_busy != "parallel",
            user_message_id=turn.user_message_id, assistant_message_id=turn.assistant_message_id,
            content=turn.content_parts, file_ids=list(turn.file_ids),
            **_live_row(turn.options, webhooks.config))
        if placed is None:
            raise session_not_found(session_id)
        if not placed["placed"] and turn.options.if_busy == "enqueue":
            return _enqueue(conn, webhooks.config, session_id, caller, turn, placed["busy_message_id"])
        if not placed["placed"]:
            raise Busy(session_id, placed["busy_message_id"], placed["busy_lapsed"])
        return _turn_exchange(db, webhooks, conn, admission, placed["session"], turn,
                              events.JsonText(placed["history"]), placed["history_window"], placed["path_messages"])


@dataclass(frozen=True)
class Queued:
    """A send with `if_busy: enqueue` that found a reply streaming: its user message and the empty reply
    below it are stored; the reply waits for `waits_for` (and any queued before it) to end."""
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
    waits_for: uuid.UUID


def _enqueue(conn, config, session_id, caller, turn, busy_message_id):
    """Still under the session's row lock (taken by the send_turn call that found it busy): place the turn
    below the active leaf, then make its reply wait instead of going live (app/streams/follow_ups.py starts
    it)."""
    queue = q.queue_length(conn, session_id=session_id)
    if queue["waiting"] >= config.max_queued_per_session:
        raise conflict(f"{config.max_queued_per_session} replies already wait in this session; send again when "
                       f"one has started", reason="queue_full", field="if_busy", resource_id=busy_message_id)
    placed = q.send_turn(
        conn, session_id=session_id, client_id=caller.client_id, check_busy=False,
        user_message_id=turn.user_message_id, assistant_message_id=turn.assistant_message_id,
        content=turn.content_parts, file_ids=list(turn.file_ids), **_live_row(turn.options, config))
    capabilities.check_files(placed["session"]["accepts_files"], turn.file_ids)
    enabled = capabilities.select(placed["session"]["available_capabilities"], turn.enabled)  # a 400 now, not later
    q.queue_reply(conn, message_id=turn.assistant_message_id, session_id=session_id,
                  user_message_id=turn.user_message_id, enabled=Jsonb(enabled))
    if turn.options.idempotency is not None:
        turn.options.idempotency.record(conn, session_id=session_id, message_id=turn.assistant_message_id,
                                        user_message_id=turn.user_message_id)
    return Queued(turn.user_message_id, turn.assistant_message_id, queue["last"] or busy_message_id)


def start_queued(db, webhooks, session_id):
    """The session's oldest waiting reply, started if no reply of the owner streams there any more: it goes
    live (leased to this instance) and its Exchange is returned for a relay to run. None when there is
    nothing to start. Its history is read now, so it holds the reply it waited for as that one was stored.
    While the backend's breaker is open it stays waiting (BreakerOpen is raised before anything changes)."""
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = q.lock_queueing_session(conn, id=session_id)
        if session is None:
            return None
        stream = admission.admit(_target(session), "message.new")
        started = q.start_queued_reply(conn, session_id=session_id, lease_seconds=webhooks.config.lease_seconds)
        if started is None:
            stream.finish(counts=False)
            return None
        path = paths.down_to(conn, session_id, started["user_message_id"])
        asked = json.loads(path[-1]["history_item"])  # the user message as a backend sees it
        above = path[:-1]
        history, history_window = _history(conn, session, above, above[-1]["id"] if above else None)
    payload = events.message_new(session_id, started["message_id"], session["metadata"],
                                 started["enabled_capabilities"], asked["content"], asked.get("file_ids") or (),
                                 history, history_window=history_window)
    return Exchange(db, webhooks, session_id, started["message_id"], _target(session), stream, payload,
                    user_message_id=started["user_message_id"], live=True,
                    summary_owner=session["client_id"] if summary_due(session, len(path) + 1) else None)


def _turn_exchange(db, webhooks, conn, admission, session, turn, history, history_window, path_messages):
    """After a turn is placed, still in its transaction: what needs the session row (the capabilities
    and files asked for, then the breaker; checked after the placement, so a refusal rolls it back
    and a busy session answers 409 first), the idempotency key, and the exchange. A share recipient's
    turn names them to the backend."""
    session_id = session["id"]
    chosen = capabilities.select(session["available_capabilities"], turn.enabled)
    capabilities.check_files(session["accepts_files"], turn.file_ids)
    stream = admission.admit(_target(session), "message.new")
    if turn.options.idempotency is not None:
        turn.options.idempotency.record(conn, session_id=session_id, message_id=turn.assistant_message_id,
                                        user_message_id=turn.user_message_id)
    payload = events.message_new(session_id, turn.assistant_message_id, session["metadata"], chosen, turn.content,
                                 turn.file_ids, history, recipient=turn.recipient, history_window=history_window)
    return Exchange(db, webhooks, session_id, turn.assistant_message_id, _target(session), stream, payload,
                    user_message_id=turn.user_message_id, live=True,
                    summary_owner=session["client_id"] if turn.recipient is None
                    and summary_due(session, path_messages + 2) else None)


def summary_due(session, path_messages):
    """Whether a path of `path_messages` has grown the session type's auto_summary_every_messages (None
    unless summarization is enabled: session_settings) past the last summary's path."""
    every = session.get("auto_summary_every_messages")
    if not every:
        return False
    summarized = summarized_path(session["metadata"])
    # A path no longer than the one summarized went another way (an edit, a branch): the exact count, from
    # the message the summary covers, is made when the summary starts (summary_due_on).
    return path_messages - summarized >= every or path_messages <= summarized


def summary_due_on(session, path):
    """The exact rule, on the active path itself: `auto_summary_every_messages` messages below the one the
    last summary covers, or, when that one is not on this path (or there is no summary), on the path."""
    summary = session["metadata"].get("summary")
    covered = summary.get("covers_through_message_id") if isinstance(summary, dict) else None
    position = next((index for index, row in enumerate(path) if ids.message_gts(row["id"]) == covered), None)
    below = len(path) - (position + 1) if position is not None else len(path)
    return below >= session["auto_summary_every_messages"]


def summarized_path(metadata):
    """How many messages the path held when the stored summary was made (0: none, or one a client wrote
    over: metadata is the client's to PATCH)."""
    summary = metadata.get("summary")
    counted = summary.get("path_messages") if isinstance(summary, dict) else None
    return counted if isinstance(counted, int) and not isinstance(counted, bool) else 0


def _start_turn(db, webhooks, turn, lock, missing):
    """A branch, an edit, or a share recipient's turn: lock, read the path, then place the turn."""
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = lock(conn)
        if session is None:
            raise missing()
        if turn.options.idempotency is not None:
            turn.options.idempotency.check(conn)
        path, leaf = _place_turn(conn, session, turn, webhooks.config)
        history, history_window = _history(conn, session, path, leaf)
        return _turn_exchange(db, webhooks, conn, admission, session, turn, history, history_window, len(path))


def _history(conn, session, path, leaf):
    """(history, window applied) for a turn below `leaf`: the whole path, or for a session type with
    history_window_messages, windowed_history's part of it (sql/functions/history.sql)."""
    window = session.get("history_window_messages")
    if window is None:
        return paths.history_json(path), None
    summary = session["metadata"].get("summary")
    row = q.windowed_history(conn, session_id=session["id"], leaf=leaf, window=window,
                             summary=Jsonb(summary) if isinstance(summary, dict) else None)
    return events.JsonText(row["history"]), row["history_window"]


def _place_turn(conn, session, turn, config):
    """A branch, an edit or a share recipient's turn: the path first, then the inserts. Returns the path
    above the new user message and its parent (None: among the roots)."""
    session_id = session["id"]
    branching = turn.recipient is None and turn.parent_id is not None
    if turn.recipient is not None:
        path = paths.of_recipient(conn, session_id, turn.recipient)
        parent_id = path[-1]["id"] if path else None
    elif turn.edited_id is not None:
        path, parent_id = _edit_point(conn, session_id, turn.edited_id)
    else:
        path, parent_id = paths.down_to(conn, session_id, turn.parent_id), turn.parent_id
    if turn.recipient is None and turn.options.if_busy != "parallel":
        # Read after the lock: a fresh snapshot sees a send that committed while this one waited for it.
        in_flight = q.busy_reply_of_session(conn, session_id=session_id)
        if in_flight is not None:
            raise Busy(session_id, in_flight["message_id"], in_flight["lapsed"])
    if branching and (not path or path[-1]["is_hidden_from_user"]):
        raise message_not_found(parent_id)
    if q.insert_user_turn(conn, session_id=session_id, parent_id=parent_id, recipient_client_id=turn.recipient,
                          user_message_id=turn.user_message_id, assistant_message_id=turn.assistant_message_id,
                          content=turn.content_parts, file_ids=list(turn.file_ids), user_metadata=Jsonb({}),
                          assistant_metadata=Jsonb({"session_type_id": session["session_type_id"]}),
                          max_siblings=config.max_siblings_per_parent, **_live_row(turn.options, config)) is None:
        # the parent has MAX_SIBLINGS_PER_PARENT variants already
        field_name = "edited_message_id" if turn.edited_id is not None else "parent_message_id" if branching else "body"
        raise messages.too_many_variants(config.max_siblings_per_parent, field_name)
    if turn.recipient is None and not all(row["is_active"] for row in path):
        # Branching from a message off the active path: its whole chain becomes active.
        q.activate_path(conn, session_id=session_id, message_id=parent_id)
    return path, parent_id


def _edit_point(conn, session_id, edited_id):
    """(history path, parent) for a new variant of a user message: the path above it, its parent."""
    path = paths.down_to(conn, session_id, edited_id)
    if not path or path[-1]["is_hidden_from_user"] or path[-1]["recipient_client_id"] is not None:
        raise message_not_found(edited_id)
    if path[-1]["role"] != "user":
        raise invalid("only user messages can be edited", field="edited_message_id", code="not_user")
    return path[:-1], path[-1]["parent_id"]


def start_recreate(db, webhooks, caller, message_id, enabled=None, options=None):
    options = options or Options(if_busy="parallel")
    assistant_id = uuid.uuid4()
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = q.lock_session_of_message(conn, message_id=message_id, client_id=caller.client_id)
        if session is None:
            raise message_not_found(message_id)
        if options.idempotency is not None:
            options.idempotency.check(conn)
        if session["message_role"] != "assistant":
            raise invalid("only assistant messages can be recreated", field="id", code="not_assistant")
        chosen = capabilities.select(session["available_capabilities"], enabled)
        stream = admission.admit(_target(session), "message.recreate")
        parent_id = session["message_parent_id"]
        path = paths.down_to(conn, session["id"], parent_id)
        max_siblings = webhooks.config.max_siblings_per_parent
        if q.insert_assistant_variant(conn, session_id=session["id"], parent_id=parent_id,
                                      assistant_message_id=assistant_id, recipient_client_id=None,
                                      assistant_metadata=Jsonb({"session_type_id": session["session_type_id"]}),
                                      max_siblings=max_siblings, **_live_row(options, webhooks.config)) is None:
            raise messages.too_many_variants(max_siblings, "id")
        if not all(row["is_active"] for row in path):
            q.activate_path(conn, session_id=session["id"], message_id=assistant_id)
        if options.idempotency is not None:
            options.idempotency.record(conn, session_id=session["id"], message_id=assistant_id)
    payload = events.message_recreate(session["id"], assistant_id, chosen, paths.history_json(path))
    return Exchange(db, webhooks, session["id"], assistant_id, _target(session), stream, payload, live=True,
                    tells_variant=True)


def start_summary(db, webhooks, caller, session_id, enabled=None):
    """session.summary to the dedicated summarization service when configured, else the backend."""
    return _start_summary(db, webhooks, session_id, enabled,
                          lambda conn: q.lock_session(conn, id=session_id, client_id=caller.client_id))


# A background summary's claim (summary_runs) may be taken over this long after its longest possible run.
SUMMARY_CLAIM_MARGIN_SECONDS = 60


def start_background_summary(db, webhooks, session_id, client_id):
    """The summary auto_summary_every_messages asks for once a reply is stored, with the session's default
    capabilities: None when it is not due any more (another instance's summary was stored meanwhile) or
    another instance is making one (the session's summary_runs row)."""
    return _start_summary(db, webhooks, session_id, None,
                          lambda conn: q.lock_session(conn, id=session_id, client_id=client_id), background=True)


def _start_summary(db, webhooks, session_id, enabled, lock, background=False):
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = lock(conn)
        if session is None:
            raise session_not_found(session_id)
        if not session["summarization_enabled"]:
            raise invalid("this session type does not enable summarization", field="session_id",
                          code="summarization_disabled")
        if background and not q.claim_summary_run(
                conn, session_id=session_id, stale_seconds=session["max_reply_seconds"] + SUMMARY_CLAIM_MARGIN_SECONDS):
            return None  # another instance makes one: no path read under the lock
        path = paths.active(conn, session_id)
        if background and not (session.get("auto_summary_every_messages") and summary_due_on(session, path)):
            q.release_summary_run(conn, session_id=session_id)
            return None
        chosen = capabilities.select(session["available_capabilities"], enabled)
        if not paths.history(path):
            raise invalid("nothing to summarize yet")
        target = _target(session)
        if session["summarization_url"]:
            # Its own breaker: the summarizer failing must not block the chat backend.
            target = Target.of(session["session_type_id"], session["summarization_url"], session,
                               breaker_key=f"{session['session_type_id']} summarization")
        stream = admission.admit(target, "session.summary")
    payload = events.session_summary(session_id, chosen, paths.history_json(path), session["summarization_settings"])
    return SummaryExchange(db, webhooks, session_id, uuid.uuid4(), target, stream, payload,
                           covers_through=path[-1]["id"], path_messages=len(path), background=background)
