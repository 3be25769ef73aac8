"""Exports: JSON keeps the tree, transcripts read in order, links are signed and work on any instance."""
import json
from urllib.parse import parse_qs, urlparse

import requests

from support.backends import numbered_replies
from support.engine import expect


def build_tree(api, backend, session_type):
    """question 1 → reply 1 (+ variant reply 3) → question 2 → reply 2, and a branch under question 1."""
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "question 1")
    api.send(session_id, "question 2")
    api.recreate(first.message_id)                     # reply 3, now active under question 1
    api.post(f"/messages/{first.message_id}/activate")  # back to reply 1 → question 2 → reply 2
    return session_id


def download(url):
    return expect(requests.get(url, timeout=10), 200)


def test_json_export_round_trips_the_tree(api, backend, session_type, start_engine, db, contract):
    session_id = build_tree(api, backend, session_type)
    created = api.post(f"/sessions/{session_id}/export", json={"format": "json", "scope": "all"})
    assert created.status_code == 200
    body = contract.validate(created.json(), "ExportResponse")
    assert set(body) == {"download_url", "expires_at"}

    other_instance = start_engine()
    url = body["download_url"].replace(urlparse(body["download_url"]).netloc, other_instance.url.split("//")[1])
    exported = json.loads(download(url).text)
    stored = db.execute("SELECT id, parent_id, variant_index, is_active FROM messages").fetchall()
    as_exported = {(m["message_id"].split("~")[1], (m["parent_message_id"] or "~").split("~")[1] or None,
                    m["variant_index"], m["is_active"]) for m in exported["messages"]}
    assert as_exported == {(str(r["id"]), str(r["parent_id"]) if r["parent_id"] else None, r["variant_index"],
                            r["is_active"]) for r in stored}

    active = json.loads(download(api.post(f"/sessions/{session_id}/export",
                                          json={"format": "json", "scope": "active"}).json()["download_url"]).text)
    assert [m["content"][0]["text"] for m in active["messages"]] == ["question 1", "reply 1", "question 2",
                                                                     "reply 2"]


def test_markdown_and_txt_contain_every_message_of_the_scope_in_order(api, backend, session_type):
    session_id = build_tree(api, backend, session_type)
    for export_format in ("markdown", "txt"):
        active = download(api.post(f"/sessions/{session_id}/export",
                                   json={"format": export_format, "scope": "active"}).json()["download_url"]).text
        positions = [active.index(text) for text in ("question 1", "reply 1", "question 2", "reply 2")]
        assert positions == sorted(positions) and "reply 3" not in active

        everything = download(api.post(f"/sessions/{session_id}/export",
                                       json={"format": export_format, "scope": "all"}).json()["download_url"])
        text = everything.text
        lines = [line.strip() for line in text.splitlines()]
        for message in ("question 1", "reply 1", "question 2", "reply 2", "reply 3"):
            assert lines.count(message) == 1, (export_format, message)
        assert text.index("reply 2") < text.index("reply 3")  # the main conversation comes first
        assert "variant 2 of 2" in text
        assert everything.headers["Content-Disposition"].startswith("attachment")


def test_export_links_are_signed_and_expire(api, session_type, engine_process, contract):
    session_id = api.create_session(session_type)
    api.send(session_id, "hello")
    url = api.post(f"/sessions/{session_id}/export", json={"format": "txt", "scope": "active"}).json()["download_url"]
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    base = f"{engine_process.url}{parsed.path}"
    assert requests.get(f"{base}?expires={query['expires'][0]}&signature={query['signature'][0]}",
                        timeout=10).status_code == 200
    tampered = f"{base}?expires={int(query['expires'][0]) + 3600}&signature={query['signature'][0]}"
    contract.validate_error(requests.get(tampered, timeout=10), 404, "INVALID_REQUEST")
    expired = f"{base}?expires=1000&signature={query['signature'][0]}"
    contract.validate_error(requests.get(expired, timeout=10), 404, "INVALID_REQUEST")
    contract.validate_error(requests.get(base, timeout=10), 400, "INVALID_REQUEST")


def test_export_needs_a_valid_format_scope_and_ownership(api, session_type, contract):
    session_id = api.create_session(session_type)
    contract.validate_error(api.post(f"/sessions/{session_id}/export", json={"format": "pdf", "scope": "all"}),
                            400, "INVALID_REQUEST")
    contract.validate_error(api.as_client("x").post(f"/sessions/{session_id}/export",
                                                    json={"format": "json", "scope": "all"}),
                            404, "SESSION_NOT_FOUND")
