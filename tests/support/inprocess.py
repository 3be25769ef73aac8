"""Settings for apps created in the test process (the in-process tier, tests/unit)."""
from app.config import Config
from support.engine import JWT_SECRET


def make_config(**settings):
    """A Config with the tests' JWT secret and no database unless one is given."""
    return Config(**{"database_url": None, "jwt_secret": JWT_SECRET, "log_level": "WARNING", **settings})
