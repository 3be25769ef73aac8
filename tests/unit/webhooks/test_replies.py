"""app/webhooks/replies.py: parsing a backend's answer into events; every malformed answer is a BackendError."""
import io
import json

import pytest

from app.webhooks.errors import BackendError
from app.webhooks.replies import ContentBuilder, json_events, merge_chunks, read_events


class Answer:
    """What read_events uses of a streaming requests.Response: headers and raw.read1, in chunks."""

    def __init__(self, body, content_type="application/x-ndjson", chunk_size=7):
        self.headers = {"Content-Type": content_type}
        self.raw = _Chunked(body, chunk_size)


class _Chunked:
    def __init__(self, body, size):
        self._stream, self._size = io.BytesIO(body), size

    def read1(self, limit):
        return self._stream.read(min(limit, self._size))


def lines(*events):
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


CHUNK = {"type": "chunk", "chunk": {"type": "text", "content": "Hi"}}
COMPLETE = {"type": "complete", "metadata": {"usage": {"total_tokens": 3}}}


def test_ndjson_is_parsed_across_read_boundaries_and_ends_at_complete():
    body = lines(CHUNK, {"type": "chunk", "chunk": {"type": "code", "content": "x=1"}}, COMPLETE) + b"trailing junk"
    events = list(read_events(Answer(body), 10_000))
    assert events == [("chunk", {"type": "text", "content": "Hi"}), ("chunk", {"type": "code", "content": "x=1"}),
                      ("complete", {"usage": {"total_tokens": 3}})]


def test_content_type_parameters_are_ignored():
    assert list(read_events(Answer(lines(COMPLETE), "application/x-ndjson; charset=utf-8"), 100)) == [
        ("complete", {"usage": {"total_tokens": 3}})]


@pytest.mark.parametrize("body, content_type", [
    (lines(CHUNK), "application/x-ndjson"),                       # no complete
    (lines(CHUNK) + b'{"type": "comp', "application/x-ndjson"),   # cut mid-line
    (b"not json\n", "application/x-ndjson"),
    (lines({"type": "mystery"}), "application/x-ndjson"),
    (lines({"type": "chunk", "chunk": {"type": "smell", "content": "x"}}), "application/x-ndjson"),
    (lines({"type": "chunk", "chunk": {"type": "text", "content": 5}}), "application/x-ndjson"),
    (lines({"type": "error", "message": "model overloaded"}), "application/x-ndjson"),
    (lines(COMPLETE), "text/html"),
    (b"{not json", "application/json"),
])
def test_malformed_answers_are_backend_errors(body, content_type):
    with pytest.raises(BackendError):
        list(read_events(Answer(body, content_type), 10_000))


def test_the_size_cap_cuts_the_answer():
    with pytest.raises(BackendError, match="size limit"):
        list(read_events(Answer(lines(CHUNK) * 100), 500))


def test_a_backend_error_event_keeps_its_message():
    with pytest.raises(BackendError, match="model overloaded"):
        list(read_events(Answer(lines({"type": "error", "message": "model overloaded"})), 1000))


def test_single_json_answers_become_chunks():
    assert list(json_events({"content": "plain"})) == [("chunk", {"type": "text", "content": "plain"}),
                                                       ("complete", {})]
    parts = {"content": [{"type": "text", "text": "a"}, {"type": "image", "image_id": "i"}], "metadata": {"m": 1}}
    assert list(json_events(parts)) == [("chunk", {"type": "text", "content": "a"}),
                                        ("chunk", {"type": "image", "content": "i"}), ("complete", {"m": 1})]
    assert list(json_events({"summary": "short"}))[0] == ("chunk", {"type": "text", "content": "short"})
    for bad in ([], {}, {"content": []}, {"content": [{"type": "image"}]}, {"content": [{"type": "x"}]}):
        with pytest.raises(BackendError):
            list(json_events(bad))


def test_chunks_keep_the_optional_fields_of_their_part_type_only():
    body = lines({"type": "chunk", "chunk": {"type": "code", "content": "x", "language": "go", "colour": "red"}},
                 COMPLETE)
    assert list(read_events(Answer(body), 10_000))[0] == ("chunk", {"type": "code", "content": "x", "language": "go"})


def test_streamed_pieces_merge_until_the_language_changes():
    parts = merge_chunks([
        {"type": "text", "content": "See"}, {"type": "text", "content": ":"},
        {"type": "code", "content": "a", "language": "go"}, {"type": "code", "content": "b"},
        {"type": "code", "content": "c", "language": "go"}, {"type": "code", "content": "d", "language": "c"},
        {"type": "image", "content": "id-1"}, {"type": "image", "content": "id-2"}])
    assert parts == [{"type": "text", "text": "See:"}, {"type": "code", "code": "abc", "language": "go"},
                     {"type": "code", "code": "d", "language": "c"}, {"type": "image", "image_id": "id-1"},
                     {"type": "image", "image_id": "id-2"}]


def test_parts_of_a_json_answer_stay_whole_with_all_their_fields():
    answer = {"content": [{"type": "code", "code": "a", "language": "go"}, {"type": "code", "code": "b"},
                          {"type": "document", "document_id": "d", "filename": "f.txt", "mime_type": "text/plain"}]}
    parts = merge_chunks(payload for kind, payload in json_events(answer) if kind == "chunk")
    assert parts == answer["content"]


def test_parts_read_while_streaming_continue_where_they_left_off():
    content = ContentBuilder()
    content.add({"type": "text", "content": "a"})
    content.add({"type": "text", "content": "b"})
    assert content.parts == [{"type": "text", "text": "ab"}]
    content.add({"type": "text", "content": "c"})
    assert content.parts == [{"type": "text", "text": "abc"}]


def test_many_small_chunks_make_one_part():
    content = ContentBuilder()
    for _ in range(100_000):
        content.add({"type": "text", "content": "0123456789"})
    assert content.parts == [{"type": "text", "text": "0123456789" * 100_000}]
