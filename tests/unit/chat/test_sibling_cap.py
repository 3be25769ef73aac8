"""The cap on siblings per parent: recreate, branch, edit and post refuse a sibling past
MAX_SIBLINGS_PER_PARENT with a 409; the common send, which only continues the active path, is never refused."""
import pytest

from app.chat import exchanges, messages, posting
from app.errors import ApiError
from app.metrics import get_metrics
from app.streams import outcomes
from app.webhooks.client import WebhookClient
from support.inprocess import make_config

CAP = 3


@pytest.fixture
def capped_webhooks():
    return WebhookClient(make_config(max_siblings_per_parent=CAP), get_metrics())


def reply(exchange, text="r"):
    exchange.save([{"type": "text", "text": text}], {"usage": {}}, outcomes.COMPLETE)
    exchange.stream.finish()
    return exchange


def assert_refused(caught):
    error = caught.value
    assert (error.status, error.error_code) == (409, "INVALID_REQUEST")
    assert error.details["validation_errors"][0]["code"] == "too_many_variants"
    assert f"{CAP}" in error.message


def test_recreate_past_the_cap_is_refused_and_stores_nothing(database, capped_webhooks, caller, make_session):
    session_id = make_session()
    original = reply(exchanges.start_send(database, capped_webhooks, caller, session_id, "q"))
    for _ in range(CAP - 1):
        reply(exchanges.start_recreate(database, capped_webhooks, caller, original.message_id))
    with pytest.raises(ApiError) as caught:
        exchanges.start_recreate(database, capped_webhooks, caller, original.message_id)
    assert_refused(caught)
    siblings, current, _ = messages.variants(database, caller, original.message_id)
    assert len(siblings) == CAP and current == CAP - 1  # the refused one deactivated nothing


def test_a_branch_past_the_cap_is_refused(database, capped_webhooks, caller, make_session):
    session_id = make_session()
    first = reply(exchanges.start_send(database, capped_webhooks, caller, session_id, "q1"))
    reply(exchanges.start_send(database, capped_webhooks, caller, session_id, "q2"))  # the first child of r1
    for i in range(CAP - 1):
        reply(exchanges.start_send(database, capped_webhooks, caller, session_id, f"b{i}", parent_id=first.message_id))
    with pytest.raises(ApiError) as caught:
        exchanges.start_send(database, capped_webhooks, caller, session_id, "one more", parent_id=first.message_id)
    assert_refused(caught)
    page, _ = messages.list_messages(database, caller, session_id, parent_id=first.message_id, children=True)
    assert len(page) == CAP


def test_an_edit_past_the_cap_is_refused(database, capped_webhooks, caller, make_session):
    session_id = make_session()
    first = reply(exchanges.start_send(database, capped_webhooks, caller, session_id, "v0"))
    for i in range(1, CAP):
        reply(exchanges.start_send(database, capped_webhooks, caller, session_id, f"v{i}",
                                   edited_id=first.user_message_id))
    with pytest.raises(ApiError) as caught:
        exchanges.start_send(database, capped_webhooks, caller, session_id, "again", edited_id=first.user_message_id)
    assert_refused(caught)


def test_the_common_send_is_never_refused(database, capped_webhooks, caller, make_session):
    """Root variants at the cap: sending on continues below the active leaf, a first child each time."""
    session_id = make_session()
    first = reply(exchanges.start_send(database, capped_webhooks, caller, session_id, "v0"))
    for i in range(1, CAP):
        reply(exchanges.start_send(database, capped_webhooks, caller, session_id, f"v{i}",
                                   edited_id=first.user_message_id))
    for i in range(CAP + 1):
        reply(exchanges.start_send(database, capped_webhooks, caller, session_id, f"on {i}"))
    path, _ = messages.list_messages(database, caller, session_id)
    assert len(path) == 2 * (CAP + 2)


def test_a_post_past_the_cap_is_refused(database, caller, make_session, conn):
    session_id = make_session()
    root = posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": "root"}])
    for i in range(CAP):
        posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": f"v{i}"}],
                             parent_id=root["id"], max_siblings=CAP)
    with pytest.raises(ApiError) as caught:
        posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": "v3"}],
                             parent_id=root["id"], max_siblings=CAP)
    assert_refused(caught)
    count = conn.execute("SELECT count(*) AS n FROM messages WHERE parent_id = %s", (root["id"],)).fetchone()
    assert count["n"] == CAP
    # Continuing the active path (no parent named) adds no sibling: never refused.
    posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": "next"}], max_siblings=CAP)
