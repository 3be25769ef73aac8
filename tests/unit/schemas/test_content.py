"""app/schemas/content.py: the contract's content-part shapes, for client input and backend output."""
import pytest

from app.schemas.content import extras, part_errors

FILE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.mark.parametrize("part", [
    {"type": "text", "text": "hi"},
    {"type": "code", "code": "x = 1", "language": "python"},
    {"type": "image", "image_id": FILE, "mime_type": "image/png"},
    {"type": "audio", "audio_id": FILE, "mime_type": "audio/ogg", "duration_seconds": 0},
    {"type": "video", "video_id": FILE, "duration_seconds": 12.5},
    {"type": "document", "document_id": FILE, "mime_type": "application/pdf", "filename": "a.pdf"},
])
def test_every_field_the_contract_defines_is_accepted(part):
    assert part_errors(part) == []


@pytest.mark.parametrize("part, problem", [
    ({"type": "smell"}, "type must be"),
    ("text", "type must be"),
    ({"type": "text", "text": ""}, "text must be"),
    ({"type": "code", "code": "x", "colour": "red"}, "not allowed"),
    ({"type": "image", "image_id": "IMG-1"}, "UUID"),
    ({"type": "image", "image_id": FILE, "mime_type": "text/plain"}, "mime_type"),
    ({"type": "audio", "audio_id": FILE, "duration_seconds": -1}, "duration_seconds"),
    ({"type": "video", "video_id": FILE, "duration_seconds": True}, "duration_seconds"),
])
def test_anything_else_is_named(part, problem):
    assert any(problem in p for p in part_errors(part))


def test_extras_keep_only_the_well_formed_optional_fields_of_the_type():
    source = {"type": "document", "content": FILE, "filename": "a.pdf", "mime_type": "", "language": "go"}
    assert extras("document", source) == {"filename": "a.pdf"}
    assert extras("code", {"language": "go", "filename": "x"}) == {"language": "go"}
    assert extras("text", {"language": "go"}) == {}
