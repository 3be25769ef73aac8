"""The contract's content parts (reference/schemas/common/*Content.json): every field each type defines.

One table serves both directions: client input is validated against it (posted messages), and a
backend's parts and streamed chunks keep exactly these fields, nothing else, so stored and relayed
content stays in the contract's shape (each part schema forbids other fields).
"""
from app import ids

# type -> (the field holding the payload, {optional field: kind})
PARTS = {
    "text": ("text", {}),
    "code": ("code", {"language": "string"}),
    "image": ("image_id", {"mime_type": "image/"}),
    "audio": ("audio_id", {"mime_type": "audio/", "duration_seconds": "seconds"}),
    "video": ("video_id", {"mime_type": "video/", "duration_seconds": "seconds"}),
    "document": ("document_id", {"mime_type": "string", "filename": "string"}),
}
PAYLOAD_FIELD = {kind: spec[0] for kind, spec in PARTS.items()}
MEDIA = {"image", "audio", "video", "document"}


def _valid_extra(kind, value):
    if kind == "seconds":
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if not isinstance(value, str) or not value:
        return False
    return kind == "string" or value.startswith(kind)


def extras(kind, source):
    """The optional fields of a part type present and well-formed in `source`; others are dropped."""
    return {name: source[name] for name, check in PARTS[kind][1].items()
            if name in source and _valid_extra(check, source[name])}


def part_errors(part):
    """Why a client's content part does not match its contract schema ([] when it does)."""
    if not isinstance(part, dict) or part.get("type") not in PARTS:
        return [f"type must be one of {', '.join(PARTS)}"]
    kind = part["type"]
    field, optional = PARTS[kind]
    problems = []
    payload = part.get(field)
    if not isinstance(payload, str) or not payload:
        problems.append(f"{field} must be a non-empty string")
    elif kind in MEDIA and ids.parse_uuid(payload) is None:
        problems.append(f"{field} must be a lowercase UUID")
    for name, check in optional.items():
        if name in part and not _valid_extra(check, part[name]):
            problems.append(f"{name} is malformed")
    unknown = sorted(set(part) - {"type", field, *optional})
    if unknown:
        problems.append(f"fields not allowed for {kind}: {', '.join(unknown)}")
    return problems
