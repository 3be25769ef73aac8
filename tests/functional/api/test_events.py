"""GET /api/v1/events, the change feed (issue 25 §3): the caller's changes as they happen, from any
instance; a reconnect with the last cursor misses nothing and repeats nothing; an old cursor is 410."""
import time

from support.engine import Api, expect
from support.feeds import Follower
from support.waiting import wait_until


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


def test_a_cursor_events_may_be_lost_after_is_410_and_a_malformed_one_400(api, contract, db):
    stale = f"1.1.{int(time.time())}"
    gone = api.get(f"/events?after={stale}")  # this client never followed a feed: nothing was recorded
    contract.validate_error(gone, 410, "INVALID_REQUEST")
    assert gone.json()["details"]["validation_errors"][0]["code"] == "cursor_expired"
    follower = Follower(api)
    cursor = wait_until(lambda: follower.lines, message="the feed line")[0]["cursor"]
    follower.close()
    tx, event_id, _ = cursor.split(".")
    resumed = api.get("/events", params={"after": cursor}, stream=True)
    assert resumed.status_code == 200
    resumed.close()
    db.execute("UPDATE client_feeds SET pruned_tx = %s::xid8, pruned_id = %s WHERE client_id = %s",
               (tx, int(event_id) + 1, api.client_id))  # an event after the cursor was pruned
    contract.validate_error(api.get("/events", params={"after": cursor}), 410, "INVALID_REQUEST")
    for malformed in ("nope", "1.2", "1.2.3.4", "-1.2.3", "١.2.3", f"{2**64}.1.1", f"1.{2**63}.1"):
        contract.validate_error(api.get("/events", params={"after": malformed}), 400, "INVALID_REQUEST")
