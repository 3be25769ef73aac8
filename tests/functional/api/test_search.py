"""Full-text search (ADR-0023): ranking, stemming, snippets, isolation, paging."""
import json

from support.backends import chunk, complete, ndjson, stream_answer


def silent_replies(backend, text="ok"):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(chunk(text), complete())])))


def test_in_session_search_ranks_stems_and_highlights(api, backend, session_type, contract):
    silent_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "I like running in the park")
    api.send(session_id, "The park has a lake and running paths and a running club")
    api.send(session_id, "Nothing relevant here")

    both = contract.validate(api.get(f"/sessions/{session_id}/search", params={"query": "running park"}).json(),
                             "SearchResults")
    assert both["total"] == 2
    # ts_rank_cd is cover density: the words side by side ("running in the park") rank first.
    assert both["results"][0]["content"] == "I like running in the park"
    assert both["results"][0]["rank"] > both["results"][1]["rank"]
    one_word = api.get(f"/sessions/{session_id}/search", params={"query": "run"}).json()
    assert one_word["total"] == 2  # "run" finds "running"
    hit = one_word["results"][0]
    assert "<mark>" in hit["context"] and hit["role"] == "user" and hit["message_id"].startswith("gts.")
    assert set(hit) >= {"message_id", "content", "context", "created_at", "parent_message_id", "variant_index",
                        "is_active"}
    assert api.get(f"/sessions/{session_id}/search", params={"query": "lake running"}).json()["results"][0][
        "content"].startswith("The park")


def test_more_query_words_rank_higher(api, backend, session_type):
    silent_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "a message about gardens")
    api.send(session_id, "a message about gardens and tomatoes")
    results = api.get(f"/sessions/{session_id}/search", params={"query": "gardens tomatoes"}).json()["results"]
    assert [r["content"] for r in results] == ["a message about gardens and tomatoes"]
    either = api.get(f"/sessions/{session_id}/search", params={"query": "gardens or tomatoes"}).json()["results"]
    assert either[0]["content"] == "a message about gardens and tomatoes"


def test_cross_session_search_groups_ranks_and_stays_within_the_caller(api, backend, session_type, contract):
    silent_replies(backend)
    sessions = [api.create_session(session_type) for _ in range(3)]
    api.send(sessions[0], "volcano facts")
    api.send(sessions[1], "volcano volcano eruption volcano")
    api.send(sessions[1], "another volcano message")
    api.send(sessions[2], "unrelated")
    stranger = api.as_client("stranger")
    theirs = stranger.create_session(session_type)
    stranger.send(theirs, "my secret volcano")

    found = contract.validate(api.get("/search", params={"query": "volcano"}).json(), "SessionSearchResults")
    assert found["total"] == 2
    assert [r["session_id"] for r in found["results"]] == [sessions[1], sessions[0]]
    assert len(found["results"][0]["matched_messages"]) == 2
    assert "secret" not in json.dumps(found)
    assert stranger.get("/search", params={"query": "facts"}).json()["total"] == 0


def test_hidden_messages_never_match(api, backend, session_type, db):
    silent_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "the password is swordfish")
    db.execute("UPDATE messages SET is_hidden_from_user = true WHERE role = 'user'")
    assert api.get(f"/sessions/{session_id}/search", params={"query": "swordfish"}).json()["total"] == 0
    assert api.get("/search", params={"query": "swordfish"}).json()["total"] == 0


def test_paging_by_offset_and_by_cursor_is_stable(api, backend, session_type, contract):
    silent_replies(backend, "filler")
    session_id = api.create_session(session_type)
    for index in range(7):
        api.send(session_id, f"kiwi number {index}")
    everything = api.get(f"/sessions/{session_id}/search", params={"query": "kiwi", "limit": 100}).json()
    ids = [r["message_id"] for r in everything["results"]]
    assert len(ids) == 7

    by_cursor, cursor = [], None
    while True:
        params = {"query": "kiwi", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/sessions/{session_id}/search", params=params).json()
        by_cursor += [r["message_id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert by_cursor == ids
    by_offset = api.get(f"/sessions/{session_id}/search", params={"query": "kiwi", "limit": 3, "offset": 3}).json()
    assert [r["message_id"] for r in by_offset["results"]] == ids[3:6]

    for params in ({"query": "kiwi", "limit": 101}, {"query": "kiwi", "offset": 10_001}, {"query": ""},
                   {"limit": 5}, {"query": "kiwi", "limit": "many"}, {"query": "kiwi", "cursor": "%%%"}):
        contract.validate_error(api.get(f"/sessions/{session_id}/search", params=params), 400, "INVALID_REQUEST")
    contract.validate_error(api.get("/search", params={"query": "kiwi", "limit": 1000}), 400, "INVALID_REQUEST")
