"""GET /api/v1/events, the change feed (issue 25 §3): the caller's changes as they happen, from any
instance; a reconnect with the last cursor misses nothing and repeats nothing; an old cursor is 410."""
import time

import gevent

from support.engine import Api, expect, read_ndjson
from support.waiting import wait_until


class Follower:
    """Reads a feed in a greenlet of its own; `lines` fills as they arrive."""

    def __init__(self, api, after=None):
        api = self.api = api.as_client(api.client_id)  # a connection of its own, closed with it
        self.response = api.call("GET", "/events" + (f"?after={after}" if after else ""), stream=True,
                                 timeout=60)
        assert self.response.status_code == 200, self.response.text
        self.lines = []
        self._reader = gevent.spawn(self._read)

    def _read(self):
        try:
            for line in read_ndjson(self.response):
                self.lines.append(line)
        except Exception:  # noqa: BLE001 - closed by the test
            pass

    def kinds(self):
        return [line["type"] for line in self.lines if line["type"] not in ("feed", "heartbeat")]

    def wait_for(self, *kinds):
        wait_until(lambda: all(kind in self.kinds() for kind in kinds), message=f"{kinds} on the feed")
        return self.lines

    def close(self):
        self._reader.kill()  # first: closing the response under a read in progress is refused
        self.response.close()
        self.api.http.close()  # a connection left open would hold the engine's graceful stop


def test_the_feed_tells_a_client_what_changed_and_resumes_from_a_cursor_on_another_instance(
        api, backend, session_type, db, start_engine):
    follower = Follower(api)
    start = wait_until(lambda: follower.lines, message="the feed line")[0]
    assert start["type"] == "feed" and start["cursor"]
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hello").message_id
    follower.wait_for("session.created", "reply.started", "reply.ended")
    ended = [line for line in follower.lines if line["type"] == "reply.ended"][0]
    assert ended["message_id"] == reply and ended["session_id"] == session_id and ended["is_complete"] is True
    expect(api.call("PATCH", f"/sessions/{session_id}", json={"title": "Renamed"}), 200)
    expect(api.post(f"/messages/{reply}/reaction", json={"reaction_type": "like"}), 200)
    follower.wait_for("session.updated", "reaction.set")
    last_seen = follower.lines[-1]["cursor"]
    follower.close()

    # Changes while nobody listens, then a reconnect elsewhere with the last cursor: those, and only those.
    second = api.recreate(reply).message_id
    expect(api.post(f"/messages/{reply}/activate"), 200)
    expect(api.call("DELETE", f"/messages/{second}"), 200)
    expect(api.call("DELETE", f"/sessions/{session_id}"), 200)
    elsewhere = Follower(Api(start_engine().url, api.client_id), after=last_seen)
    elsewhere.wait_for("session.deleted")
    assert elsewhere.kinds() == ["reply.started", "reply.ended", "path.changed", "message.deleted",
                                 "session.deleted"]
    assert elsewhere.lines[0] == {"type": "feed", "cursor": last_seen}
    cursors = [line["cursor"] for line in elsewhere.lines[1:]]
    assert len(set(cursors)) == len(cursors)
    elsewhere.close()


def test_a_feed_carries_only_its_own_client_s_changes_and_nobody_s_costs_no_rows(api, session_type, db):
    other = api.as_client(api.client_id + "-other")
    follower = Follower(api)
    wait_until(lambda: follower.lines, message="the feed line")
    other.send(other.create_session(session_type), "not yours")
    mine = api.create_session(session_type)
    follower.wait_for("session.created")
    assert [line["session_id"] for line in follower.lines[1:]] == [mine]
    assert db.execute("SELECT count(*) AS n FROM client_events WHERE client_id = %s",
                      (other.client_id,)).fetchone()["n"] == 0
    follower.close()


def test_a_cursor_too_old_is_410_and_a_malformed_one_400(api, contract):
    stale = f"1.1.{int(time.time()) - 3 * 86400}"
    gone = api.get(f"/events?after={stale}")
    contract.validate_error(gone, 410, "INVALID_REQUEST")
    assert gone.json()["details"]["validation_errors"][0]["code"] == "cursor_expired"
    for malformed in ("nope", "1.2", "1.2.3.4", "-1.2.3", "١.2.3"):
        contract.validate_error(api.get("/events", params={"after": malformed}), 400, "INVALID_REQUEST")
