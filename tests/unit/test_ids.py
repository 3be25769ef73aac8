"""app/ids.py: public GTS ids <-> UUIDs."""
import uuid

import pytest

from app import ids

UUID = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def test_session_and_message_ids_round_trip():
    assert ids.parse_session_id(ids.session_gts(UUID)) == UUID
    assert ids.parse_message_id(ids.message_gts(UUID)) == UUID
    assert ids.message_gts(None) is None


@pytest.mark.parametrize("value", [
    None, 42, "", str(UUID), ids.message_gts(UUID), ids.session_gts(UUID) + "x",
    ids.session_gts(UUID).upper(), "gts.hyperspot.chat_engine.entities.session.v1~nope",
])
def test_anything_but_a_session_id_parses_to_none(value):
    assert ids.parse_session_id(value) is None


def test_message_ids_are_not_session_ids():
    assert ids.parse_message_id(ids.session_gts(UUID)) is None


def test_plain_uuids():
    assert ids.parse_uuid(str(UUID)) == UUID
    assert ids.parse_uuid("3FA85F64-5717-4562-B3FC-2C963F66AFA6") is None
    assert ids.parse_uuid("x") is None


def test_session_type_ids():
    assert ids.session_type_gts("support_bot") == "gts.hyperspot.chat_engine.session_types.support_bot.v1~"
    assert ids.is_session_type_id(ids.session_type_gts("bot", 2))
    assert ids.is_session_type_id("gts.hyperspot.chat_engine.session_types.bot.v1.2~")
    for bad in ("bot", ids.session_type_gts("Has Spaces"), "gts.hyperspot.chat_engine.session_types.bot.v1", None):
        assert not ids.is_session_type_id(bad)


def test_a_trailing_newline_is_not_part_of_an_id():
    assert ids.parse_session_id(ids.session_gts(UUID) + "\n") is None
    assert ids.parse_uuid(str(UUID) + "\n") is None
    assert not ids.is_session_type_id(ids.session_type_gts("bot") + "\n")


def test_the_database_renders_history_items_with_the_same_id_prefixes(conn):
    """sql/functions/history.sql spells the prefixes again for the items it renders when a message is written."""
    from app import ids

    row = conn.execute("SELECT gts_message_prefix() AS message, gts_session_prefix() AS session").fetchone()
    assert (row["message"], row["session"]) == (ids.MESSAGE_PREFIX, ids.SESSION_PREFIX)
