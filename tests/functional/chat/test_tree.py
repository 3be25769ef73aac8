"""The message tree: linear chats, recreated variants, branches, navigation, activation."""
import pytest

from support.backends import numbered_replies


def texts(messages):
    return [m["content"][0]["text"] for m in messages]


def test_linear_chat(api, backend, session_type):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    for turn in range(1, 4):
        assert api.send(session_id, f"question {turn}").types[-1] == "complete"
    path = api.path(session_id)
    assert texts(path) == ["question 1", "reply 1", "question 2", "reply 2", "question 3", "reply 3"]
    assert all(m["is_active"] and m["variant_index"] == 0 for m in path)
    for parent, child in zip(path, path[1:], strict=False):
        assert child["parent_message_id"] == parent["message_id"]


def test_three_recreations_make_four_variants_with_the_newest_active(api, backend, session_type, contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    original = api.send(session_id, "question")
    recreated = []
    for count in range(3):
        result = api.recreate(original.message_id)
        contract.validate_stream(result.events)
        assert result.types[-1] == "complete"
        # The stream's last line says where the new variant stands: "2 of 2", then "3 of 3", "4 of 4".
        assert result.events[-1]["metadata"]["variant_info"] == {"variant_index": count + 1,
                                                                 "total_variants": count + 2}
        recreated.append(result.message_id)
    assert "variant_info" not in original.events[-1]["metadata"]  # a send's reply is the only variant

    variants = contract.validate(api.get(f"/messages/{original.message_id}/variants").json(), "MessageVariants")
    assert [v["variant_index"] for v in variants["variants"]] == [0, 1, 2, 3]
    assert [v["message_id"] for v in variants["variants"]] == [original.message_id, *recreated]
    assert [v["is_active"] for v in variants["variants"]] == [False, False, False, True]
    assert variants["current_index"] == 3
    assert [v["content"][0]["text"] for v in variants["variants"]] == ["reply 1", "reply 2", "reply 3", "reply 4"]

    path = api.path(session_id)
    assert texts(path) == ["question", "reply 4"]
    info = api.get(f"/messages/{recreated[1]}").json()["variant_info"]
    assert info["variant_index"] == 2 and info["total_variants"] == 4

    first, *later = backend.events("message.recreate")
    assert all(e["history"] == first["history"] for e in later)
    assert [h["content"][0]["text"] for h in first["history"]] == ["question"]
    assert first["message_id"] == recreated[0]


def test_recreating_a_user_message_is_400(api, session_type, contract):
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    response = api.post(f"/messages/{sent.user_message_id}/recreate")
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_recreate_of_a_foreign_message_is_404(api, session_type, contract):
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    contract.validate_error(api.as_client("other").post(f"/messages/{sent.message_id}/recreate"),
                            404, "MESSAGE_NOT_FOUND")


def test_branch_from_the_first_message_of_a_ten_message_chat(api, backend, session_type):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    for turn in range(1, 6):
        api.send(session_id, f"question {turn}")
    before = api.path(session_id)
    assert len(before) == 10
    first_question = before[0]

    # Branch from the first message: the new user message becomes a sibling of "reply 1".
    branch = api.send(session_id, "a different follow-up", parent_message_id=first_question["message_id"])
    assert branch.types[-1] == "complete"
    event = backend.events("message.new")[-1]
    assert [h["message_id"] for h in event["history"]] == [first_question["message_id"]]

    after = api.path(session_id)
    assert texts(after) == ["question 1", "a different follow-up", "reply 6"]
    siblings = api.get(f"/messages/{after[1]['message_id']}/variants").json()
    assert [v["variant_index"] for v in siblings["variants"]] == [0, 1]
    assert siblings["current_index"] == 1
    old_branch = siblings["variants"][0]
    assert old_branch["message_id"] == before[1]["message_id"] and not old_branch["is_active"]

    # The old path is intact below the branch point.
    children = api.get(f"/sessions/{session_id}/messages",
                       params={"parent_message_id": before[1]["message_id"]}).json()["messages"]
    assert texts(children) == ["question 2"]
    api.post(f"/messages/{before[-1]['message_id']}/activate")
    assert [m["message_id"] for m in api.path(session_id)] == [m["message_id"] for m in before]


def test_activating_an_old_variant_makes_the_next_send_continue_there(api, backend, session_type, contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    original = api.send(session_id, "question")
    api.recreate(original.message_id)
    assert texts(api.path(session_id)) == ["question", "reply 2"]

    activated = api.post(f"/messages/{original.message_id}/activate")
    assert activated.status_code == 200
    contract.validate(activated.json(), "Message")
    assert activated.json()["is_active"] is True
    assert texts(api.path(session_id)) == ["question", "reply 1"]

    api.send(session_id, "follow-up")
    path = api.path(session_id)
    assert texts(path) == ["question", "reply 1", "follow-up", "reply 3"]
    assert path[2]["parent_message_id"] == original.message_id
    history = backend.events("message.new")[-1]["history"]
    assert [h["message_id"] for h in history] == [path[0]["message_id"], original.message_id]


def test_activating_a_deep_message_on_an_inactive_branch_activates_its_ancestors(api, backend, session_type):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "q1")
    api.send(session_id, "q2")
    first_path = api.path(session_id)
    api.send(session_id, "other q2", parent_message_id=first_path[1]["message_id"])
    assert texts(api.path(session_id)) == ["q1", "reply 1", "other q2", "reply 3"]

    api.post(f"/messages/{first_path[3]['message_id']}/activate")
    assert texts(api.path(session_id)) == ["q1", "reply 1", "q2", "reply 2"]


def test_listing_children_of_a_node_and_of_the_root(api, backend, session_type, contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "q")
    api.recreate(first.message_id)
    response = api.get(f"/sessions/{session_id}/messages", params={"parent_message_id": first.user_message_id})
    children = contract.validate(response.json(), "MessageList")["messages"]
    assert [c["variant_index"] for c in children] == [0, 1]
    assert [c["variant_info"]["total_variants"] for c in children] == [2, 2]

    missing = "gts.hyperspot.chat_engine.entities.message.v1~00000000-0000-4000-8000-000000000000"
    contract.validate_error(api.get(f"/sessions/{session_id}/messages", params={"parent_message_id": missing}),
                            404, "MESSAGE_NOT_FOUND")


def test_branching_from_a_message_of_another_session_is_404(api, session_type, contract):
    one = api.create_session(session_type)
    two = api.create_session(session_type)
    foreign = api.send(one, "q").message_id
    response = api.post("/messages/send", json={"session_id": two, "content": "x", "parent_message_id": foreign})
    contract.validate_error(response, 404, "MESSAGE_NOT_FOUND")


@pytest.mark.parametrize("statement", [
    "UPDATE messages SET parent_id = NULL WHERE role = 'assistant'",
    "UPDATE messages SET variant_index = 5 WHERE role = 'assistant'",
    "UPDATE messages SET is_active = true WHERE role = 'assistant' AND variant_index = 0",
    "UPDATE messages SET parent_id = gen_random_uuid() WHERE role = 'assistant'",
])
def test_the_database_refuses_tree_corruption(api, backend, session_type, db, statement):
    import psycopg

    numbered_replies(backend)
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "q")
    api.recreate(sent.message_id)
    with pytest.raises(psycopg.errors.IntegrityError):
        db.execute(statement)
