"""Public GTS ids <-> UUIDs, at the API edge only (SPEC §3)."""
import re
import uuid

SESSION_PREFIX = "gts.hyperspot.chat_engine.entities.session.v1~"
MESSAGE_PREFIX = "gts.hyperspot.chat_engine.entities.message.v1~"
SESSION_TYPE_PATTERN = re.compile(r"^gts\.hyperspot\.chat_engine\.session_types\.[a-z0-9_]+\.v[0-9]+(\.[0-9]+)*~$")

_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_SESSION = re.compile(r"^gts\.hyperspot\.chat_engine\.entities\.session\.v[0-9]+~" + _UUID + "$")
_MESSAGE = re.compile(r"^gts\.hyperspot\.chat_engine\.entities\.message\.v[0-9]+~" + _UUID + "$")
_PLAIN_UUID = re.compile("^" + _UUID + "$")


def session_gts(value):
    return SESSION_PREFIX + str(value)


def message_gts(value):
    return None if value is None else MESSAGE_PREFIX + str(value)


def _parse(pattern, value):
    # fullmatch, never match: `$` also matches before a trailing "\n", which the database CHECK refuses.
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    return uuid.UUID(match.group(1)) if match else None


def parse_session_id(value):
    """The UUID inside a session GTS id, or None when it is not one."""
    return _parse(_SESSION, value)


def parse_message_id(value):
    return _parse(_MESSAGE, value)


def parse_uuid(value):
    return _parse(_PLAIN_UUID, value)


def is_session_type_id(value):
    return isinstance(value, str) and bool(SESSION_TYPE_PATTERN.fullmatch(value))


def session_type_gts(name, version=1):
    return f"gts.hyperspot.chat_engine.session_types.{name}.v{version}~"
