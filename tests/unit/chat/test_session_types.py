"""app/chat/session_types.py: the registry of backends, against the real database."""
import pytest

from app.chat import session_types
from app.errors import ApiError


def test_create_derives_the_id_and_fills_defaults(database):
    row = session_types.create(database, {"name": "helper_bot", "webhook_url": "http://127.0.0.1:9/"})
    assert row["id"] == "gts.hyperspot.chat_engine.session_types.helper_bot.v1~"
    assert row["timeout_seconds"] == 30 and row["summarization_enabled"] is False
    assert session_types.get(database, row["id"])["webhook_url"] == "http://127.0.0.1:9/"


def test_duplicates_and_bad_names_are_refused(database):
    session_types.create(database, {"name": "dup", "webhook_url": "http://127.0.0.1:9/"})
    with pytest.raises(ApiError) as caught:
        session_types.create(database, {"name": "dup", "webhook_url": "http://127.0.0.1:9/"})
    assert caught.value.status == 409
    with pytest.raises(ApiError) as caught:
        session_types.create(database, {"name": "Has Spaces", "webhook_url": "http://127.0.0.1:9/"})
    assert caught.value.status == 400


def test_update_keeps_what_is_not_changed_and_delete_refuses_types_in_use(database, session_type, make_session):
    updated = session_types.update(database, session_type, {"timeout_seconds": 300})
    assert updated["timeout_seconds"] == 300 and updated["summarization_enabled"] is True
    make_session()
    with pytest.raises(ApiError) as caught:
        session_types.delete(database, session_type)
    assert caught.value.status == 409


def test_missing_types_are_404(database):
    missing = "gts.hyperspot.chat_engine.session_types.nope.v1~"
    for action in (lambda: session_types.get(database, missing), lambda: session_types.delete(database, missing),
                   lambda: session_types.update(database, missing, {})):
        with pytest.raises(ApiError) as caught:
            action()
        assert caught.value.status == 404
