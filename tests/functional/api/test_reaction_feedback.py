"""Feedback with a reason (issue 25 §4): a reaction may carry `comment` and `reasons`; both reach the
backend's reaction notice (a header: the contract's event allows no other property) and the JSON export."""
import base64
import json

from support.engine import expect

REACTION_EVENT_FIELDS = {"event", "session_id", "message_id", "user_id", "reaction_type", "previous_reaction_type",
                         "timestamp"}


def feedback_of(headers):
    value = headers["X-Chat-Engine-Reaction-Feedback"]
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def reaction_requests(backend):
    return [(headers, json.loads(raw)) for name, headers, raw in backend.requests if name == "message.reaction"]


def test_a_reaction_s_comment_and_reasons_reach_the_backend_and_the_export(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hello").message_id
    answer = expect(api.post(f"/messages/{reply}/reaction", json={
        "reaction_type": "dislike", "comment": "Wrong capital — it's Canberra 🦘", "reasons": ["inaccurate",
                                                                                         "inaccurate", "too_long"]}),
        200).json()
    contract.validate(answer, "ReactionResponse")
    assert answer["applied"] is True
    backend.wait_for("message.reaction")
    headers, event = reaction_requests(backend)[0]
    assert set(event) <= REACTION_EVENT_FIELDS and event["reaction_type"] == "dislike"
    assert feedback_of(headers) == {"comment": "Wrong capital — it's Canberra 🦘",
                                    "reasons": ["inaccurate", "too_long"]}

    # The same reaction with other feedback is a change too; the same again is not.
    body = {"reaction_type": "dislike", "comment": "Still wrong", "reasons": []}
    assert expect(api.post(f"/messages/{reply}/reaction", json=body), 200).json()["applied"] is True
    backend.wait_for("message.reaction", count=2)
    assert feedback_of(reaction_requests(backend)[1][0]) == {"comment": "Still wrong", "reasons": []}
    assert expect(api.post(f"/messages/{reply}/reaction", json=body), 200).json()["applied"] is False

    url = expect(api.post(f"/sessions/{session_id}/export", json={"format": "json", "scope": "all"}), 200).json()
    exported = json.loads(api.http.get(url["download_url"], timeout=10).text)
    reacted = [m for m in exported["messages"] if m["message_id"] == reply][0]
    assert reacted["reactions"] == [{"user_id": api.client_id, "reaction_type": "dislike", "comment": "Still wrong",
                                     "reasons": []}]

    expect(api.post(f"/messages/{reply}/reaction", json={"reaction_type": "like"}), 200)
    backend.wait_for("message.reaction", count=3)
    assert "X-Chat-Engine-Reaction-Feedback" not in reaction_requests(backend)[2][0]  # none given: no header


def test_feedback_is_bounded(api, session_type, contract):
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hello").message_id
    for body in ({"reaction_type": "like", "comment": "x" * 2001},
                 {"reaction_type": "like", "comment": "🦘" * 1300},  # under 2,000 characters, over 5,000 bytes
                 {"reaction_type": "like", "reasons": ["Not A Tag"]},
                 {"reaction_type": "like", "reasons": [f"r{n}" for n in range(11)]},
                 {"reaction_type": "none", "comment": "removing, with words"}):
        contract.validate_error(api.post(f"/messages/{reply}/reaction", json=body), 400, "INVALID_REQUEST")
