"""Public GTS ids <-> UUIDs, at the API edge only.

The patterns below are the one home of the id formats: the parsers full-match them, and the OpenAPI
document publishes them as they are (anchored, so they mean the same to a JSON Schema validator).
"""
import re
import uuid

SESSION_PREFIX = "gts.hyperspot.chat_engine.entities.session.v1~"
MESSAGE_PREFIX = "gts.hyperspot.chat_engine.entities.message.v1~"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID_PATTERN = "^" + _UUID + "$"
SESSION_ID_PATTERN = r"^gts\.hyperspot\.chat_engine\.entities\.session\.v[0-9]+~" + _UUID + "$"
MESSAGE_ID_PATTERN = r"^gts\.hyperspot\.chat_engine\.entities\.message\.v[0-9]+~" + _UUID + "$"
SESSION_TYPE_ID_PATTERN = r"^gts\.hyperspot\.chat_engine\.session_types\.[a-z0-9_]+\.v[0-9]+(\.[0-9]+)*~$"

_PLAIN_UUID = re.compile(UUID_PATTERN)
_SESSION = re.compile(SESSION_ID_PATTERN)
_MESSAGE = re.compile(MESSAGE_ID_PATTERN)
_SESSION_TYPE = re.compile(SESSION_TYPE_ID_PATTERN)


def session_gts(value):
    return SESSION_PREFIX + str(value)


def message_gts(value):
    return None if value is None else MESSAGE_PREFIX + str(value)


def _parse(pattern, value):
    """The UUID that ends a matching id. fullmatch, because `$` alone also accepts a trailing newline."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        return None
    return uuid.UUID(value[-36:])


def parse_session_id(value):
    """The UUID inside a session GTS id, or None when it is not one."""
    return _parse(_SESSION, value)


def parse_message_id(value):
    return _parse(_MESSAGE, value)


def parse_uuid(value):
    return _parse(_PLAIN_UUID, value)


def is_session_type_id(value):
    return isinstance(value, str) and _SESSION_TYPE.fullmatch(value) is not None


def session_type_gts(name, version=1):
    return f"gts.hyperspot.chat_engine.session_types.{name}.v{version}~"
