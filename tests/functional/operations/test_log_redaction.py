"""Access and error logs never carry share tokens, export signatures, bearer tokens,
webhook secrets or message content. A real gunicorn (its own access log on, app logs at INFO) serves
every such path; then its whole log is grepped."""
import logging
import sys
import urllib.parse
import uuid

import requests

from log_redaction import RedactingFilter, RedactingGunicornLogger, redact
from support.backends import json_answer
from support.engine import Api, expect, token
from support.waiting import wait_until


def test_the_engines_logs_carry_no_tokens_signatures_secrets_or_content(start_engine, backend):
    engine_process = start_engine(ACCESS_LOG="-", LOG_LEVEL="INFO")
    marker = f"zebracontent{uuid.uuid4().hex[:12]}"
    admin = Api(engine_process.url, "operator", admin=True)
    created = expect(admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}",
                                                              "webhook_url": backend.url}), 201).json()
    api = Api(engine_process.url, "log-owner")
    session_id = api.create_session(created["session_type_id"], metadata={"note": marker})
    assert api.send(session_id, f"please remember {marker}").types[-1] == "complete"
    expect(api.get("/search", params={"query": marker}), 200)
    expect(api.get(f"/sessions/{session_id}/search", params={"query": marker}), 200)

    share = expect(api.post(f"/sessions/{session_id}/share", json={}), 201).json()
    share_token = share["share_token"]
    expect(requests.get(f"{engine_process.url}/api/v1/share/{share_token}", timeout=10), 200)
    recipient = Api(engine_process.url, "log-recipient")
    expect(recipient.get(f"/share/{share_token}/messages"), 200)
    assert recipient.stream(f"/share/{share_token}/messages", {"content": f"reply to {marker}"}).types[-1] == "complete"
    assert requests.get(f"{engine_process.url}/api/v1/share/{share_token}x", timeout=10).status_code == 404

    download_url = expect(api.post(f"/sessions/{session_id}/export", json={"format": "txt", "scope": "all"}),
                          200).json()["download_url"]
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(download_url).query)["signature"][0]
    expect(requests.get(download_url, timeout=10), 200)
    forged = download_url.replace(signature, signature[::-1])  # well-formed, wrong
    assert requests.get(forged, timeout=10).status_code == 404

    bearer = token("log-owner")
    refused = requests.get(f"{engine_process.url}/api/v1/sessions", headers={"Authorization": f"Bearer {bearer}x"},
                           timeout=10)
    assert refused.status_code == 401
    # A backend failure is logged (warning) with its session type, never with the content sent.
    backend.on("message.new", lambda e, env: json_answer({"error": marker}, "500 Internal Server Error"))
    assert api.send(session_id, f"again {marker}").types[-1] == "error"

    last = "/api/v1/health/live?probe=" + marker
    requests.get(engine_process.url + last.replace("/api/v1", ""), timeout=10)
    log = wait_until(lambda: (text := open(engine_process.log_path).read()) and "/health/live?probe=" in text and text,
                     timeout=10, message="the last request in the access log")

    assert "/api/v1/share/[redacted]" in log and "signature=[redacted]" in log  # the paths were logged
    for secret in (share_token, signature, bearer, marker, created["webhook_secret"]):
        assert secret not in log, secret


def test_gunicorn_error_and_access_lines_are_redacted(capsys):
    class Config:
        errorlog, accesslog, loglevel, syslog, capture_output, logconfig = "-", "-", "info", False, False, None
        logconfig_dict, logconfig_json, access_log_format, user, group = {}, None, '%(r)s "%({authorization}i)s"', 0, 0
        disable_redirect_access_to_syslog, statsd_host, dogstatsd_tags, permit_unconventional_http_method = \
            False, None, "", False
    logger = RedactingGunicornLogger(Config())
    share = "Zq9" + uuid.uuid4().hex
    logger.error("Error handling request /api/v1/share/%s", share)
    logger.exception("Invalid request from %s", f"GET /api/v1/share/{share} Authorization: Bearer abc.def.ghi")
    assert share not in capsys.readouterr().err


def test_the_filter_redacts_messages_arguments_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "GET %s", ("/api/v1/share/SECRETTOKEN?q=hi",), None)
    # Shaped like a psycopg error: PostgreSQL's DETAIL line may quote the stored content.
    database_message = "\n".join(["duplicate key", "DETAIL: Key (content)=(private words) fails",
                                  "Bearer eyJa.eyJb.c whsec_abcdefgh"])
    try:
        raise ValueError(database_message)
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = record.getMessage() + record.exc_text
    for secret in ("SECRETTOKEN", "q=hi", "private words", "eyJa.eyJb.c", "whsec_abcdefgh"):
        assert secret not in text, secret
    assert redact("GET /api/v1/exports/e?expires=1&signature=abc HTTP/1.1") == \
        "GET /api/v1/exports/e?expires=[redacted]&signature=[redacted] HTTP/1.1"
    assert redact("pool: cannot connect to postgresql://chat:hunter2@db:5432/chat") == \
        "pool: cannot connect to postgresql://chat:[redacted]@db:5432/chat"
