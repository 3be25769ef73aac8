"""app/chat/exchanges.py: transactions 1 and 2 of send/recreate/summarize, against the real database.

The relay's part (the backend call) is left out: a test plays it by saving a reply itself.
"""
import json
import uuid

import pytest

from app.auth import Caller
from app.chat import exchanges, messages, posting
from app.errors import ApiError
from app.streams import outcomes
from app.webhooks.errors import BreakerOpen


def reply(exchange, text):
    """What the relay does after a backend answered `text`."""
    exchange.save([{"type": "text", "text": text}], {"usage": {}}, outcomes.COMPLETE)
    exchange.stream.finish()
    return exchange


def texts(rows):
    return [r["content"][0]["text"] if r["content"] else None for r in rows]


def test_send_places_both_messages_and_builds_the_backend_event(database, webhooks, caller, make_session):
    session_id = make_session()
    first = reply(exchanges.start_send(database, webhooks, caller, session_id, "question 1"), "reply 1")
    second = exchanges.start_send(database, webhooks, caller, session_id, "question 2")

    event = second.payload
    assert event["event"] == "message.new" and event["message"] == {"role": "user", "content": "question 2"}
    assert texts(json.loads(event["history"])) == ["question 1", "reply 1"]
    assert event["enabled_capabilities"] == [{"id": "web_search", "enabled_by_default": True}]
    assert second.headers()["X-User-Message-Id"].endswith(str(second.user_message_id))

    path = messages.list_messages(database, caller, session_id)[0]
    assert texts(path) == ["question 1", "reply 1", "question 2", None]  # the reply's placeholder
    assert path[-1]["is_complete"] is False and path[1]["id"] == first.message_id
    reply(second, "reply 2")
    assert texts(messages.list_messages(database, caller, session_id)[0])[-1] == "reply 2"


def test_recreate_adds_an_active_variant_with_the_same_history(database, webhooks, caller, make_session):
    session_id = make_session()
    original = reply(exchanges.start_send(database, webhooks, caller, session_id, "q"), "reply 1")
    again = reply(exchanges.start_recreate(database, webhooks, caller, original.message_id), "reply 2")
    assert texts(json.loads(again.payload["history"])) == ["q"]
    siblings, current, _ = messages.variants(database, caller, original.message_id)
    assert texts(siblings) == ["reply 1", "reply 2"]
    assert [s["is_active"] for s in siblings] == [False, True] and current == 1


def test_branching_from_an_earlier_message_activates_the_new_branch(database, webhooks, caller, make_session):
    session_id = make_session()
    reply(exchanges.start_send(database, webhooks, caller, session_id, "q1"), "r1")
    reply(exchanges.start_send(database, webhooks, caller, session_id, "q2"), "r2")
    first_question = messages.list_messages(database, caller, session_id)[0][0]
    branch = reply(exchanges.start_send(database, webhooks, caller, session_id, "other",
                                        parent_id=first_question["id"]), "r3")
    assert texts(json.loads(branch.payload["history"])) == ["q1"]
    assert texts(messages.list_messages(database, caller, session_id)[0]) == ["q1", "other", "r3"]


def test_sending_to_a_missing_or_foreign_session_is_404(database, webhooks, make_session):
    session_id = make_session(client_id="alice")
    for caller, target in ((Caller("mallory", False), session_id), (Caller("alice", False), uuid.uuid4())):
        with pytest.raises(ApiError) as caught:
            exchanges.start_send(database, webhooks, caller, target, "x")
        assert caught.value.error_code == "SESSION_NOT_FOUND"


def test_only_assistant_messages_can_be_recreated(database, webhooks, caller, make_session):
    session_id = make_session()
    sent = reply(exchanges.start_send(database, webhooks, caller, session_id, "q"), "r")
    with pytest.raises(ApiError) as caught:
        exchanges.start_recreate(database, webhooks, caller, sent.user_message_id)
    assert caught.value.details["validation_errors"][0]["code"] == "not_assistant"


def test_an_open_breaker_stores_nothing(database, webhooks, caller, make_session, session_type):
    session_id = make_session()
    breaker = webhooks.breakers.get(session_type)
    breaker._breaker.open()
    with pytest.raises(BreakerOpen):
        exchanges.start_send(database, webhooks, caller, session_id, "q")
    assert messages.list_messages(database, caller, session_id)[0] == []


def test_summaries_need_history_and_are_stored_in_the_metadata(database, webhooks, caller, make_session):
    from app.chat import sessions

    session_id = make_session()
    with pytest.raises(ApiError, match="nothing to summarize"):
        exchanges.start_summary(database, webhooks, caller, session_id)
    reply(exchanges.start_send(database, webhooks, caller, session_id, "q"), "r")
    summary = exchanges.start_summary(database, webhooks, caller, session_id)
    assert summary.payload["event"] == "session.summary"
    summary.save([{"type": "text", "text": "In short."}], {"stop_reason": "end_turn"}, outcomes.COMPLETE)
    stored = sessions.get_session(database, caller, session_id)["metadata"]["summary"]
    assert stored["text"] == "In short." and stored["is_complete"] is True
    # As a reply's: stop_reason is the engine's, the backend's own is kept aside.
    assert stored["metadata"] == {"backend_stop_reason": "end_turn"}


def test_recreating_a_root_assistant_message_adds_a_root_variant(database, webhooks, caller, make_session):
    """A message posted first in a session has no parent: its recreate was a unique violation (a 500)."""
    session_id = make_session()
    root = posting.post_message(database, caller, session_id, "assistant", [{"type": "text", "text": "welcome"}])
    exchange = exchanges.start_recreate(database, webhooks, caller, root["id"])
    assert exchange.save([{"type": "text", "text": "hello again"}], {}, outcomes.COMPLETE) is True
    siblings, current_index, _ = messages.variants(database, caller, root["id"])
    assert [(v["variant_index"], v["is_active"]) for v in siblings] == [(0, False), (1, True)]
    assert current_index == 1
