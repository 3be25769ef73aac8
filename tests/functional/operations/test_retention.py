"""Session types' retention_days: a real engine's sweep deletes the sessions not updated for longer, tells
their backend, and leaves every other session alone."""
import uuid

from support.engine import Api, expect
from support.waiting import wait_until


def test_sessions_past_their_type_s_retention_are_deleted_and_their_backend_told(start_engine, backend, db):
    engine = start_engine(RETENTION_SWEEP_SECONDS=1)
    admin = Api(engine.url, client_id="operator", admin=True)
    api = Api(engine.url, client_id=f"retained-{uuid.uuid4().hex[:6]}")

    def session_type(**settings):
        return expect(admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}",
                                                               "webhook_url": backend.url, **settings}),
                      201).json()["session_type_id"]
    kept_a_week = session_type(retention_days=7)
    kept_forever = session_type()
    stale, fresh, unbounded, talked_to = (api.create_session(t) for t in (kept_a_week, kept_a_week, kept_forever,
                                                                          kept_a_week))
    api.send(stale, "an old conversation")
    api.send(talked_to, "a message today")  # its session row looks old below, its messages do not
    for session_id, age in ((stale, "8 days"), (fresh, "6 days"), (unbounded, "400 days"), (talked_to, "8 days")):
        db.execute("UPDATE sessions SET updated_at = now() - %s::interval WHERE id = %s", (age, session_id[-36:]))
    db.execute("UPDATE messages SET created_at = now() - interval '8 days' WHERE session_id = %s", (stale[-36:],))

    wait_until(lambda: api.get(f"/sessions/{stale}").status_code == 404, timeout=30,
               message="the stale session deleted by the sweep")
    assert [e["session_id"] for e in backend.wait_for("session.deleted")] == [stale]
    assert api.get(f"/sessions/{fresh}").status_code == 200
    assert api.get(f"/sessions/{unbounded}").status_code == 200
    assert api.get(f"/sessions/{talked_to}").status_code == 200  # in use: a message newer than the retention
    assert db.execute("SELECT count(*) AS n FROM messages WHERE session_id = %s", (stale[-36:],)).fetchone()["n"] == 0
