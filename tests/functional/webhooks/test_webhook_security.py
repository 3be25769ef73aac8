"""Every webhook request is signed with its session type's secret; URLs are policed at
registration and call time; no redirects followed; health-check failures do not echo bodies."""
import time
import uuid

import requests

from app.webhooks import signing
from demo_backend.app import make_app
from demo_backend.server import make_server
from support.backends import Backend, json_answer
from support.engine import expect


def register(admin, url, **settings):
    response = admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:10]}", "webhook_url": url,
                                                         **settings})
    body = expect(response, 201).json()
    return body["session_type_id"], body["webhook_secret"]


def assert_signed(backend, secret, expected_events):
    assert {name for name, _, _ in backend.requests} >= set(expected_events)
    for name, headers, raw in backend.requests:
        timestamp = headers.get("X-Chat-Engine-Timestamp")
        assert timestamp and abs(int(timestamp) - time.time()) < 60, name
        assert signing.verify(secret, timestamp, headers.get("X-Chat-Engine-Signature"), raw), name


def test_every_webhook_call_is_signed_with_the_session_types_secret(api, admin, backend):
    summarizer = Backend()
    try:
        type_id, secret = register(admin, backend.url, health_check=True, summarization_enabled=True,
                                   summarization_url=summarizer.url)
        assert signing.is_well_formed(secret)
        # Shown once: reads and lists never carry it.
        assert "webhook_secret" not in admin.get(f"/admin/session-types/{type_id}").json()
        assert all("webhook_secret" not in t for t in admin.get("/admin/session-types").json()["session_types"])

        session_id = api.create_session(type_id)
        sent = api.send(session_id, "hello")
        assert sent.types[-1] == "complete"
        assert api.recreate(sent.message_id).types[-1] == "complete"
        expect(api.post(f"/messages/{sent.message_id}/reaction", json={"reaction_type": "like"}), 200)
        assert api.stream(f"/sessions/{session_id}/summarize").types[-1] == "complete"
        expect(api.call("DELETE", f"/sessions/{session_id}"), 200)
        backend.wait_for("message.reaction")
        backend.wait_for("session.deleted")
        assert_signed(backend, secret, ["session_type.health_check", "session.created", "message.new",
                                        "message.recreate", "message.reaction", "session.deleted"])
        assert_signed(summarizer, secret, ["session.summary"])
    finally:
        summarizer.stop()


def test_rotation_returns_a_new_secret_once_and_signs_with_it_from_then_on(api, admin, backend, contract):
    created = expect(admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}",
                                                              "webhook_url": backend.url}), 201).json()
    contract.validate(created, "SessionTypeCreated")
    type_id, old = created["session_type_id"], created["webhook_secret"]
    rotated = admin.post(f"/admin/session-types/{type_id}/webhook-secret")
    body = contract.validate(expect(rotated, 200).json(), "WebhookSecret")
    new = body["webhook_secret"]
    assert body["session_type_id"] == type_id and new != old and signing.is_well_formed(new)
    assert "webhook_secret" not in admin.get(f"/admin/session-types/{type_id}").json()

    api.create_session(type_id)
    name, headers, raw = backend.requests[-1]
    assert name == "session.created"
    args = (headers["X-Chat-Engine-Timestamp"], headers["X-Chat-Engine-Signature"], raw)
    assert signing.verify(new, *args) and not signing.verify(old, *args)
    # Only the admin may rotate (the admin surface is a 404 for everyone else).
    assert api.post(f"/admin/session-types/{type_id}/webhook-secret").status_code == 404
    missing = "gts.hyperspot.chat_engine.session_types.nope_x.v1~"
    assert admin.post(f"/admin/session-types/{missing}/webhook-secret").status_code == 404


def test_the_demo_backend_refuses_unsigned_and_stale_requests_and_serves_signed_ones(api, admin):
    secrets = []  # filled in once the engine has generated the secret
    server = make_server(make_app(delay=0, webhook_secrets=secrets), "127.0.0.1", 0)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        type_id, secret = register(admin, url)
        secrets.append(signing.new_secret())  # a wrong secret: the backend refuses the engine
        refused = api.post("/sessions", json={"session_type_id": type_id})
        assert refused.status_code == 502 and refused.json()["error_code"] == "BACKEND_ERROR"
        secrets[:] = [secret]
        session_id = api.create_session(type_id)
        assert api.send(session_id, "ping pong").text == "You said: ping pong"

        body = b'{"event": "session_type.health_check", "session_type_id": "x"}'
        assert requests.post(url, data=body, timeout=5).status_code == 401
        stale = signing.headers(secret, body, now=time.time() - 301)
        assert requests.post(url, data=body, headers=stale, timeout=5).status_code == 401
        fresh = signing.headers(secret, body)
        assert requests.post(url, data=body, headers=fresh, timeout=5).status_code == 200
    finally:
        server.stop()


def test_urls_outside_the_allowed_networks_are_refused_at_registration(admin):
    for url in ("http://169.254.169.254/latest/meta-data/", "http://8.8.8.8/", "http://[fe80::1]:9100/"):
        response = admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": url})
        assert response.status_code == 400, url
        assert response.json()["details"]["validation_errors"][0]["field"] == "webhook_url"
        response = admin.post("/admin/session-types", json={
            "name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": "http://127.0.0.1:9/", "summarization_url": url})
        assert response.status_code == 400, url
    type_id, _ = register(admin, "http://127.0.0.1:9/")
    patched = admin.call("PATCH", f"/admin/session-types/{type_id}", json={"webhook_url": "http://169.254.169.254/"})
    assert patched.status_code == 400


def test_urls_are_checked_again_at_call_time(start_engine, database_url, backend):
    """Registered while allowed; the operator narrows the setting: nothing is sent there any more."""
    from support.engine import Api

    open_engine = start_engine()
    narrow_engine = start_engine(WEBHOOK_ALLOWED_NETWORKS="10.0.0.0/8")
    admin = Api(open_engine.url, "operator", admin=True)
    type_id, _ = register(admin, backend.url)
    refused = Api(narrow_engine.url, "someone").post("/sessions", json={"session_type_id": type_id})
    assert refused.status_code == 502 and "URL policy" in refused.json()["message"]
    assert "127.0.0.1" not in refused.text  # the backend's address is for the operator's log only
    assert backend.events("session.created") == []


def test_redirects_are_not_followed_and_health_check_bodies_are_not_echoed(admin, backend):
    target = Backend()
    try:
        backend.on("session_type.health_check", lambda e, env: (
            "307 Temporary Redirect", [("Location", target.url)], [b"moved"]))
        response = admin.post("/admin/session-types", json={
            "name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": backend.url, "health_check": True})
        assert response.status_code == 502
        assert target.received == []

        backend.on("session_type.health_check", lambda e, env: json_answer(
            {"error": "internal-detail-SECRET-MARKER"}, status="500 Internal Server Error"))
        response = admin.post("/admin/session-types", json={
            "name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": backend.url, "health_check": True})
        assert response.status_code == 502
        assert "SECRET-MARKER" not in response.text
    finally:
        target.stop()


def _flask(database_url, *args, **env):
    import os
    import subprocess
    import sys

    from support.engine import JWT_SECRET, ROOT

    environment = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING", **env}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_the_cli_registers_with_a_secret_from_the_environment_or_prints_a_generated_one(database_url, api, backend):
    import json

    given = signing.new_secret()
    made = _flask(database_url, "session-type", "create", "--name", "cli_signed", "--webhook-url", backend.url,
                  "--webhook-secret-env", "MY_SECRET", MY_SECRET=given)
    assert made.returncode == 0, made.stderr
    assert given not in made.stdout  # the operator already has it; never echoed
    type_id = json.loads(made.stdout)["session_type_id"]
    api.create_session(type_id)
    _, headers, raw = backend.requests[-1]
    assert signing.verify(given, headers["X-Chat-Engine-Timestamp"], headers["X-Chat-Engine-Signature"], raw)

    generated = _flask(database_url, "session-type", "create", "--name", "cli_generated", "--webhook-url", backend.url)
    assert generated.returncode == 0, generated.stderr
    assert signing.is_well_formed(json.loads(generated.stdout)["webhook_secret"])

    rotated = _flask(database_url, "session-type", "rotate-secret", type_id)
    assert rotated.returncode == 0 and signing.is_well_formed(rotated.stdout.strip())

    weak = _flask(database_url, "session-type", "create", "--name", "cli_weak", "--webhook-url", backend.url,
                  "--webhook-secret-env", "MY_SECRET", MY_SECRET="whsec_short")
    assert weak.returncode != 0 and "MY_SECRET" in weak.stderr
    refused = _flask(database_url, "session-type", "create", "--name", "cli_metadata",
                     "--webhook-url", "http://169.254.169.254/")
    assert refused.returncode != 0 and "not allowed" in refused.stderr


# Cloud metadata endpoints, written plainly or carried in IPv6, are refused whatever
# WEBHOOK_ALLOWED_NETWORKS says; fd00:ec2::254 even lies inside the default's fc00::/7.
METADATA_URLS = ("http://[fd00:ec2::254]/latest/meta-data/", "http://100.100.100.200/latest/meta-data/",
                 "http://168.63.129.16/machine?comp=goalstate", "http://[64:ff9b::a9fe:a9fe]/",
                 "http://[64:ff9b:1::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::]/", "http://[::a9fe:a9fe]/",
                 "http://[::ffff:0:a9fe:a9fe]/", "http://[::ffff:6464:64c8]/",
                 "http://[2001:0:4136:e378:8000:63bf:5601:5601]/", "http://1684301000/")
# (Written in hex: the request schema's URL check refuses dotted IPv4 inside brackets before the policy runs.)


def test_cloud_metadata_endpoints_are_refused_at_registration_whatever_the_setting(start_engine, admin, contract):
    from support.engine import Api

    everywhere = Api(start_engine(WEBHOOK_ALLOWED_NETWORKS="0.0.0.0/0,::/0").url, "operator", admin=True)
    for registrar in (admin, everywhere):
        for url in METADATA_URLS:
            for field, body in (("webhook_url", {"webhook_url": url}),
                                ("summarization_url", {"webhook_url": "http://127.0.0.1:9/",
                                                       "summarization_url": url})):
                response = registrar.post("/admin/session-types",
                                          json={"name": f"t_{uuid.uuid4().hex[:8]}", **body})
                contract.validate_error(response, 400, "INVALID_REQUEST")
                error = response.json()["details"]["validation_errors"][0]
                assert (error["field"], error["code"]) == (field, "url_not_allowed"), (registrar.base, url)
                assert "always refused" in error["message"], (registrar.base, url, error)
    type_id, _ = register(everywhere, "http://127.0.0.1:9/")
    for url in METADATA_URLS:
        patched = everywhere.call("PATCH", f"/admin/session-types/{type_id}", json={"webhook_url": url})
        contract.validate_error(patched, 400, "INVALID_REQUEST")


def test_a_stored_metadata_url_is_refused_when_called(start_engine, db, contract):
    """A row registered before this policy (written here with SQL) is refused at call time, with no request."""
    from support.engine import Api

    engine = start_engine(WEBHOOK_ALLOWED_NETWORKS="0.0.0.0/0,::/0")
    admin = Api(engine.url, "operator", admin=True)
    for url in ("http://[fd00:ec2::254]/latest/meta-data/", "http://[64:ff9b::a9fe:a9fe]/",
                "http://100.100.100.200/", "http://[2002:a83f:8110::]/"):
        type_id, _ = register(admin, "http://127.0.0.1:9/")
        db.execute("UPDATE session_types SET webhook_url = %s WHERE id = %s", (url, type_id))
        refused = Api(engine.url, "someone").post("/sessions", json={"session_type_id": type_id})
        body = contract.validate_error(refused, 502, "BACKEND_ERROR")
        assert "URL policy" in body["message"], (url, body)
