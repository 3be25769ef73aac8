"""Settings for apps created in the test process (the in-process tier, tests/unit), and their lookups."""
from app.config import Config
from app.db import queries as q
from support.engine import JWT_SECRET


def make_config(**settings):
    """A Config with the tests' JWT secret and no database unless one is given."""
    return Config(**{"database_url": None, "jwt_secret": JWT_SECRET, "log_level": "WARNING", **settings})


def session_of(conn, message_id):
    """A message's session, for statements keyed by (session, message) when a test has only the message."""
    return q.session_of_message(conn, id=message_id)
