"""Each input that used to give a 500 (or a misleading 503) is a 4xx with the contract's
error body. One test per reported case, each sending the very request that failed."""
import base64
import json
import time
import uuid

import jwt
import psycopg
import pytest

from app import ids
from app.errors import classify_database_error
from support.contract import Contract
from support.engine import JWT_SECRET

UNKNOWN_SESSION = ids.session_gts(uuid.uuid4())


@pytest.fixture
def contract(local):
    return Contract(local.get("/api/v1/openapi.json").get_json())


def refused(contract, response, status=400):
    body = contract.validate_error(response, status, "INVALID_REQUEST")
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def raw_json(value):
    return json.dumps(value).encode()


def test_nul_in_a_title_content_query_tag_or_path_is_400(contract, owner, local_session_type):
    refused(contract, owner.post("/sessions", json={"session_type_id": local_session_type,
                                                   "metadata": {"title": "a\u0000b"}}))
    session_id = owner.create_session(local_session_type)
    refused(contract, owner.patch(f"/sessions/{session_id}", json={"title": "a\u0000b"}))
    refused(contract, owner.patch(f"/sessions/{session_id}", json={"metadata": {"k\u0000": 1}}))
    refused(contract, owner.post("/messages/send", json={"session_id": session_id, "content": "hi\u0000"}))
    refused(contract, owner.get(f"/sessions/{session_id}/search?query=a%00b"))
    refused(contract, owner.get("/search?query=a%00b"))
    refused(contract, owner.get("/sessions?tag=a%00b"))
    refused(contract, owner.get("/sessions/abc%00def"))
    refused(contract, owner.get(f"/share/{'x' * 20}%00"))  # public path: still 400, not a query


def test_lone_surrogates_are_400(contract, owner, local_session_type):
    session_id = owner.create_session(local_session_type)
    body = b'{"session_id": "' + session_id.encode() + b'", "content": "\\ud800"}'
    error = refused(contract, owner.raw("post", "/messages/send", body))
    assert "surrogate" in error["message"]
    refused(contract, owner.raw("patch", f"/sessions/{session_id}", b'{"metadata": {"\\udfff": 1}}'))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_non_finite_json_numbers_are_400(contract, owner, local_session_type, literal):
    session_id = owner.create_session(local_session_type)
    refused(contract, owner.raw("patch", f"/sessions/{session_id}", b'{"metadata": {"score": ' + literal + b"}}"))
    refused(contract, owner.raw("post", "/sessions",
                                b'{"session_type_id": "' + local_session_type.encode() + b'", "metadata": {"n": '
                                + literal + b"}}"))


def test_json_nested_5000_deep_is_400(contract, owner, local_session_type):
    session_id = owner.create_session(local_session_type)
    deep = b"[" * 5000 + b"]" * 5000
    refused(contract, owner.raw("patch", f"/sessions/{session_id}", b'{"metadata": {"x": ' + deep + b"}}"))
    refused(contract, owner.raw("post", "/messages/send", deep))
    refused(contract, owner.raw("post", "/messages/send", b'{"a":' * 3000 + b"1" + b"}" * 3000))


def test_deeply_nested_metadata_is_400(contract, owner, local_session_type):
    nested = {}
    for _ in range(40):
        nested = {"n": nested}
    session_id = owner.create_session(local_session_type)
    refused(contract, owner.patch(f"/sessions/{session_id}", json={"metadata": nested}))
    refused(contract, owner.post("/sessions", json={"session_type_id": local_session_type, "metadata": nested}))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40, 1e300, 2.5, "9" * 13])
def test_integers_too_large_for_any_column_are_400(contract, operator, value):
    body = {"name": "bigint", "webhook_url": "http://127.0.0.1:9/", "timeout_seconds": value}
    error = refused(contract, operator.post("/admin/session-types", json=body))
    assert error["details"]["validation_errors"][0]["field"] == "timeout_seconds"


def test_huge_integer_literal_in_a_body_is_400(contract, owner):
    refused(contract, owner.raw("post", "/sessions", b'{"session_type_id": ' + b"9" * 5000 + b"}"))


def forged(value):
    return base64.urlsafe_b64encode(value if isinstance(value, bytes) else json.dumps(value).encode()).decode()


@pytest.mark.parametrize("cursor", [
    forged([0, "...", 1]), forged([1e308, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),
    forged(["search", 1e308, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),
    forged(["shared_messages", str(uuid.uuid4())]),  # another listing's cursor
    "garbage!!", forged(b"\xff" * 30), "A" * 500,
])
def test_tampered_truncated_or_foreign_cursors_are_400(contract, owner, local_session_type, cursor):
    session_id = owner.create_session(local_session_type)
    for path in ("/sessions", "/search?query=hello", f"/sessions/{session_id}/search?query=hello",
                 f"/sessions/{session_id}/messages"):
        separator = "&" if "?" in path else "?"
        error = refused(contract, owner.get(f"{path}{separator}cursor={cursor}"))
        assert error["details"]["validation_errors"][0]["field"] == "cursor", path


@pytest.mark.parametrize("query", ["expires=%C2%B2&signature=" + "0" * 64,
                                   f"expires={int(time.time()) + 60}&signature=%C3%A9" + "0" * 63,
                                   f"expires={int(time.time()) + 60}&signature=%F0%9F%92%A9",
                                   "expires=%D9%A3&signature=" + "0" * 64])  # Arabic-Indic digit three
def test_export_download_parameters_need_no_token_and_are_400(contract, local, query):
    response = local.get(f"/api/v1/exports/{uuid.uuid4()}?{query}")
    refused(contract, response)


def roles_token(roles):
    return jwt.encode({"sub": "mallory", "exp": int(time.time()) + 60, "roles": roles}, JWT_SECRET,
                      algorithm="HS256")


@pytest.mark.parametrize("roles", [7, {"admin": False}, {"admin": True}, ["admin", 1], [["admin"]], 1.5, True])
def test_odd_roles_claims_carry_no_roles(contract, local, roles):
    response = local.get("/api/v1/admin/session-types", headers={"Authorization": f"Bearer {roles_token(roles)}"})
    contract.validate_error(response, 404, "INVALID_REQUEST")  # not admin: the admin surface does not exist
    assert local.get("/api/v1/sessions", headers={"Authorization": f"Bearer {roles_token(roles)}"}).status_code == 200


def test_a_session_type_id_ending_in_newline_is_400(contract, owner, operator):
    type_id = "gts.hyperspot.chat_engine.session_types.bot.v1~\n"
    refused(contract, owner.post("/sessions", json={"session_type_id": type_id}))
    refused(contract, operator.get("/admin/session-types/gts.hyperspot.chat_engine.session_types.bot.v1~%0A"))
    refused(contract, operator.post("/admin/session-types", json={"name": "bot", "webhook_url": "http://x.test/",
                                                                  "session_type_id": type_id}))
    refused(contract, owner.get(f"/sessions/{UNKNOWN_SESSION}%0A"))


def too_many_words(count=130_000):
    """Distinct words (letters only, so no stemming merges them) whose tsvector exceeds PostgreSQL's 1 MiB."""
    letters = "bcdfghjklmnpqrtvwx"
    words = []
    for n in range(count):
        word = ""
        for _ in range(5):
            n, digit = divmod(n, len(letters))
            word += letters[digit]
        words.append("q" + word)
    return " ".join(words)


def test_content_too_large_to_index_whole_is_stored_and_indexed_by_its_beginning(contract, owner,
                                                                                 local_session_type, db):
    """Was a 413 with nothing stored; now indexing never refuses a message."""
    session_id = owner.create_session(local_session_type)
    content = too_many_words()
    assert len(content.encode()) < 1024 * 1024
    owner.send(session_id, content)
    stored = db.execute("SELECT content FROM messages WHERE role = 'user'").fetchone()["content"]
    assert stored == [{"type": "text", "text": content}]
    first_word = content.split(" ", 1)[0]
    hits = owner.get(f"/sessions/{session_id}/search", query_string={"query": first_word}).get_json()
    assert len(hits["results"]) == 1
    owner.send(session_id, "a normal message still works")


def test_only_connectivity_failures_are_database_unavailable(db):
    with pytest.raises(psycopg.OperationalError) as refused_connection:
        psycopg.connect("postgresql://nobody@127.0.0.1:9/none", connect_timeout=2)
    down = classify_database_error(refused_connection.value)
    assert (down.status, down.message, down.headers) == (503, "database unavailable, retry shortly",
                                                          {"Retry-After": "2"})
    with pytest.raises(psycopg.Error) as cancelled:
        with db.transaction():
            db.execute("SET LOCAL statement_timeout = 10")
            db.execute("SELECT pg_sleep(1)")
    timed_out = classify_database_error(cancelled.value)
    assert timed_out.status == 503 and "took too long" in timed_out.message and timed_out.headers["Retry-After"]
    with pytest.raises(psycopg.Error) as bad_value:
        db.execute("SELECT '2147483648'::integer")
    assert classify_database_error(bad_value.value).status == 400
    with pytest.raises(psycopg.Error) as bug:
        db.execute("SELECT no_such_column FROM sessions")
    assert classify_database_error(bug.value) is None  # a bug is a 500 with a trace id, not a retry loop
