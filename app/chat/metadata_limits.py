"""Caps on session metadata: one client's metadata cannot grow without bound through
repeated PATCHes or nest deep enough to make every later read and merge expensive."""
import json

from app.errors import invalid, too_large
from app.input_guard import json_depth_problem

MAX_METADATA_BYTES = 64 * 1024  # serialized as compact UTF-8 JSON
MAX_METADATA_DEPTH = 16  # the metadata object itself is level 1


def check_metadata(metadata):
    """Raise a 400 (too deep) or 413 (too large) for metadata as it would be stored."""
    if json_depth_problem(metadata, MAX_METADATA_DEPTH):
        raise invalid(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels", field="metadata",
                      code="too_deep")
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise too_large(f"metadata would be {size} bytes; at most {MAX_METADATA_BYTES} bytes are stored",
                        field="metadata")


# Keys of session metadata that only the engine writes: what it stores there is passed on to backends as the
# engine's own (a summary becomes a history item marked as the engine's; sql/functions/history.sql).
ENGINE_KEYS = ("summary",)


def refuse_engine_keys(metadata):
    """A client's metadata (at creation, or a PATCH) may not write the engine's keys: 400."""
    for key in ENGINE_KEYS:
        if key in metadata:
            raise invalid(f"metadata.{key} is written by the engine only", field=f"metadata.{key}",
                          code="engine_owned")
