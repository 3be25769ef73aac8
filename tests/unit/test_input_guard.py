"""app/input_guard.py, app/api/request_guard.py and the small checks of hostile input elsewhere (roles, ids)."""
import pytest
from werkzeug.datastructures import MultiDict

from app import ids
from app.api.request_guard import check_request_text, parse_json_body
from app.auth import roles_of
from app.errors import ApiError
from app.input_guard import json_depth_problem


def refused(call, *args):
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize("raw", [
    b'{"a": NaN}', b'{"a": Infinity}', b"[-Infinity]", b"1e400", b'{"a": "\\u0000"}', b'{"\\u0000": 1}',
    b'["\\ud800"]', b'{"k": "\\udc00x"}', b"[" * 100_000, b"[" * 65 + b"]" * 65, b"\xc3\x28", b"9" * 5000,
])
def test_bodies_that_the_database_or_decoder_cannot_take_are_400(raw):
    error = refused(parse_json_body, raw)
    assert error.details["validation_errors"][0]["field"] == "body"


def test_ordinary_bodies_pass_unchanged():
    assert parse_json_body(b'{"a": [1, 2.5, "\\u00e9\\ud83d\\ude00", null]}') == {"a": [1, 2.5, "é😀", None]}
    assert parse_json_body(b"[" * 64 + b"]" * 64) is not None


def test_depth_is_measured_without_recursion():
    value = []
    for _ in range(100_000):
        value = [value]
    assert json_depth_problem(value, 64)
    assert not json_depth_problem({"a": {"b": []}}, 3) and json_depth_problem({"a": {"b": []}}, 2)


@pytest.mark.parametrize("path, args", [
    ("/api/v1/sessions/a\x00b", {}), ("/api/v1/search", {"query": "a\x00"}), ("/x", {"ta\x00g": "1"}),
    ("/x", {"q": "\ud800"}),
])
def test_paths_and_query_strings_carry_no_nul_or_surrogates(path, args):
    refused(check_request_text, path, MultiDict(args))


@pytest.mark.parametrize("claim, roles", [
    (["admin", "reader"], {"admin", "reader"}), ("reader admin", {"reader", "admin"}), ([], set()),
    (None, set()), (7, set()), ({"admin": False}, set()), ({"admin": True}, set()), (["admin", 1], set()),
    ([["admin"]], set()), (True, set()),
])
def test_only_a_list_of_strings_or_a_spaced_string_carries_roles(claim, roles):
    assert roles_of({"roles": claim}, "roles") == roles


def test_ids_must_match_whole_strings():
    type_id = "gts.hyperspot.chat_engine.session_types.bot.v1~"
    assert ids.is_session_type_id(type_id) and not ids.is_session_type_id(type_id + "\n")
    session_id = "gts.hyperspot.chat_engine.entities.session.v1~3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert ids.parse_session_id(session_id) and ids.parse_session_id(session_id + "\n") is None
    assert ids.parse_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6\n") is None


def test_integer_fields_take_ascii_digits_only():
    from marshmallow import ValidationError

    from app.schemas.fields import StrictInteger
    field = StrictInteger()
    assert field.deserialize("12") == 12
    for value in ("٣", "１２", True, 2.5, 2**63, float("1e300")):
        with pytest.raises(ValidationError):
            field.deserialize(value)


def test_a_pipeline_aborted_error_is_not_database_unavailable():
    import psycopg

    from app.errors import classify_database_error
    assert classify_database_error(psycopg.errors.PipelineAborted("aborted")) is None
