"""The streaming layer works on rows the domain makes: the domain tests' fixtures, shared."""
from unit.chat.conftest import make_session, session_type, webhooks  # noqa: F401 (fixtures)
