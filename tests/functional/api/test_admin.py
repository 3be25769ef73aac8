"""Session types: the admin role's registry of backends, over HTTP and the CLI."""
import os
import subprocess
import sys

import gevent
import psycopg

from app import migrations
from support.backends import json_answer
from support.engine import JWT_SECRET, ROOT, expect
from support.waiting import wait_until


def test_session_type_crud(admin, backend, contract):
    created = admin.post("/admin/session-types", json={
        "name": "support_bot", "webhook_url": backend.url, "timeout_seconds": 45,
        "description": "Rule bot", "summarization_enabled": True,
        "summarization_settings": {"max_length": 100}})
    assert created.status_code == 201
    body = contract.validate(created.json(), "SessionType")
    type_id = body["session_type_id"]
    assert type_id == "gts.hyperspot.chat_engine.session_types.support_bot.v1~"
    assert body["timeout_seconds"] == 45 and body["summarization_settings"] == {"max_length": 100}

    listed = contract.validate(admin.get("/admin/session-types").json(), "SessionTypeList")
    assert type_id in [t["session_type_id"] for t in listed["session_types"]]

    updated = admin.call("PATCH", f"/admin/session-types/{type_id}", json={"timeout_seconds": 300})
    assert updated.status_code == 200
    assert updated.json()["timeout_seconds"] == 300 and updated.json()["name"] == "support_bot"
    assert admin.get(f"/admin/session-types/{type_id}").json()["timeout_seconds"] == 300

    assert admin.call("DELETE", f"/admin/session-types/{type_id}").json() == {"deleted": True}
    contract.validate_error(admin.get(f"/admin/session-types/{type_id}"), 404, "INVALID_REQUEST")


def test_explicit_versioned_id_and_duplicates(admin, backend, contract):
    type_id = "gts.hyperspot.chat_engine.session_types.human_desk.v2~"
    body = {"session_type_id": type_id, "name": "Human desk", "webhook_url": backend.url}
    assert admin.post("/admin/session-types", json=body).status_code == 201
    contract.validate_error(admin.post("/admin/session-types", json=body), 409, "INVALID_REQUEST")


def test_session_type_in_use_cannot_be_deleted(admin, api, session_type, contract):
    api.create_session(session_type)
    contract.validate_error(admin.call("DELETE", f"/admin/session-types/{session_type}"), 409, "INVALID_REQUEST")


def test_health_check_probe_on_create(admin, backend, contract):
    ok = admin.post("/admin/session-types", json={"name": "probed", "webhook_url": backend.url,
                                                  "health_check": True})
    assert ok.status_code == 201
    assert len(backend.events("session_type.health_check")) == 1

    backend.on("session_type.health_check", lambda e, env: json_answer({}, "503 Service Unavailable"))
    failed = admin.post("/admin/session-types", json={"name": "probed_again", "webhook_url": backend.url,
                                                      "health_check": True})
    contract.validate_error(failed, 502, "BACKEND_ERROR")
    assert admin.get("/admin/session-types/gts.hyperspot.chat_engine.session_types.probed_again.v1~") \
        .status_code == 404


def _flask(database_url, *args, **env):
    env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING", **env}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_manages_session_types_and_migrations(database_url, db, admin):
    created = _flask(database_url, "session-type", "create", "--name", "cli_made",
                     "--webhook-url", "http://127.0.0.1:9/", "--timeout", "12")
    assert created.returncode == 0, created.stderr
    type_id = "gts.hyperspot.chat_engine.session_types.cli_made.v1~"
    assert admin.get(f"/admin/session-types/{type_id}").json()["timeout_seconds"] == 12

    replaced = _flask(database_url, "session-type", "create", "--name", "cli_made", "--replace",
                      "--webhook-url", "http://127.0.0.1:10/")
    assert replaced.returncode == 0, replaced.stderr
    assert admin.get(f"/admin/session-types/{type_id}").json()["webhook_url"] == "http://127.0.0.1:10/"
    assert type_id in _flask(database_url, "session-type", "list").stdout
    assert _flask(database_url, "session-type", "delete", type_id).returncode == 0

    upgrade = _flask(database_url, "db", "upgrade")
    assert upgrade.returncode == 0 and "up to date" in upgrade.stdout
    versions = [r["version"] for r in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [name[:-4] for name in migrations.available()]


def test_a_migration_may_be_quiet_longer_than_db_silence_seconds(database_url, db):
    """Waiting for another replica's migration (or a migration rewriting a large table) hears nothing
    from the server: that is no hung primary, and must not be abandoned after DB_SILENCE_SECONDS."""
    with psycopg.connect(database_url, autocommit=True) as other_replica:
        other_replica.execute("SELECT pg_advisory_lock(%s)", (migrations.LOCK_KEY,))
        upgrade = gevent.spawn(_flask, database_url, "db", "upgrade", DB_SILENCE_SECONDS="0.5")
        wait_until(lambda: db.execute(
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
            "AND l.objid = %s AND NOT l.granted AND clock_timestamp() - a.query_start > interval '2 s'",
            (migrations.LOCK_KEY,)).fetchone()["n"] == 1, timeout=30, message="upgrade waiting 4x DB_SILENCE_SECONDS")
        other_replica.execute("SELECT pg_advisory_unlock(%s)", (migrations.LOCK_KEY,))
        finished = upgrade.get(timeout=60)
    assert finished.returncode == 0 and "up to date" in finished.stdout, finished.stderr


def test_cli_token_is_accepted_by_the_engine(database_url, engine_process):
    import requests

    printed = _flask(database_url, "token", "cli-user", "--admin").stdout.strip().splitlines()[-1]
    response = requests.get(engine_process.url + "/api/v1/admin/session-types",
                            headers={"Authorization": f"Bearer {printed}"}, timeout=10)
    assert response.status_code == 200


def test_conversation_settings_are_off_by_default_set_updated_and_bounded(admin, backend, contract):
    names = ("auto_summary_every_messages", "history_window_messages", "retention_days")
    plain = expect(admin.post("/admin/session-types", json={"name": "conv_plain", "webhook_url": backend.url}),
                   201).json()
    assert [plain[name] for name in names] == [None, None, None]
    created = contract.validate(expect(admin.post("/admin/session-types", json={
        "name": "conv_set", "webhook_url": backend.url, "auto_summary_every_messages": 20,
        "history_window_messages": 50, "retention_days": 90}), 201).json(), "SessionTypeCreated")
    assert [created[name] for name in names] == [20, 50, 90]
    type_id = created["session_type_id"]
    updated = expect(admin.call("PATCH", f"/admin/session-types/{type_id}",
                                json={"history_window_messages": None, "retention_days": 30}), 200).json()
    assert [updated[name] for name in names] == [20, None, 30]
    for name, bad in (("retention_days", 0), ("retention_days", 36501), ("history_window_messages", 0),
                      ("auto_summary_every_messages", 1), ("retention_days", 1.5)):
        contract.validate_error(admin.call("PATCH", f"/admin/session-types/{type_id}", json={name: bad}), 400,
                                "INVALID_REQUEST")
