"""app/config.py: settings parsed from the environment."""
import hashlib
import hmac

import pytest

from app.config import Config


def test_defaults(monkeypatch):
    for name in ("DB_POOL_MAX_SIZE", "JWT_ALGORITHMS", "WEBHOOK_RETRY_ATTEMPTS", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert config.db_pool_max_size == 10
    assert config.jwt_algorithms == ["HS256"]
    assert config.webhook_retry_attempts == 3
    assert config.public_base_url == "http://127.0.0.1:8000"


def test_values_are_typed_and_lists_are_trimmed(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "25")
    monkeypatch.setenv("DB_POOL_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("JWT_ALGORITHMS", " RS256, ES256 ,,")
    monkeypatch.setenv("WEBHOOK_RETRY_MAX_DELAY", "7")
    config = Config()
    assert config.db_pool_max_size == 25
    assert config.db_pool_timeout_seconds == 2.5
    assert config.jwt_algorithms == ["RS256", "ES256"]
    assert config.webhook_retry_max_delay == 7.0


def test_empty_strings_count_as_unset(monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "")
    monkeypatch.setenv("JWT_ROLES_CLAIM", "")
    config = Config()
    assert config.jwt_issuer is None
    assert config.jwt_roles_claim == "roles"


def test_a_malformed_number_stops_the_start(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "ten")
    with pytest.raises(ValueError):
        Config()


def test_link_signing_key_is_shared_never_random():
    assert Config(signing_key="s", jwt_secret="j").url_signing_key == b"s"
    # Derived from the JWT secret with domain separation: the same on every instance, never the secret itself.
    derived = Config(signing_key=None, jwt_secret="j").url_signing_key
    assert derived == hmac.new(b"j", b"chat-engine/export-links", hashlib.sha256).digest()
    assert derived != b"j" and Config(signing_key=None, jwt_secret="k").url_signing_key != derived
    assert Config(signing_key=None, jwt_secret=None).url_signing_key is None


def test_development_mode_is_off_unless_set(monkeypatch):
    monkeypatch.delenv("CHAT_ENGINE_DEV_MODE", raising=False)
    assert Config().chat_engine_dev_mode is False
    monkeypatch.setenv("CHAT_ENGINE_DEV_MODE", "0")
    assert Config().chat_engine_dev_mode is False
    monkeypatch.setenv("CHAT_ENGINE_DEV_MODE", "1")
    assert Config().chat_engine_dev_mode is True


def documented_settings():
    """docs/configuration.md's table: {NAME: default cell}; a row may name several settings ("A / B")."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    settings = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]) if line.startswith("| `") else []
        defaults = [d.strip() for d in cells[1].split(" / ")] if names else []
        for index, name in enumerate(names):
            settings[name] = defaults[index] if len(defaults) == len(names) else cells[1]
    return settings


def test_the_configuration_doc_lists_every_setting_with_its_default(monkeypatch):
    """Each Config field is its environment variable lowercased; the doc names each one, and a plain
    number it gives as the default is the one Config uses."""
    import dataclasses
    import os
    from pathlib import Path

    documented = documented_settings()
    for name in list(os.environ):
        if name in documented:
            monkeypatch.delenv(name)
    config = Config()
    for config_field in dataclasses.fields(Config):
        name = config_field.name.upper()
        assert name in documented, f"{name} is missing from docs/configuration.md"
        default = documented[name].strip("`")
        if default.replace(".", "", 1).isdigit():
            assert float(default) == float(getattr(config, config_field.name)), name
    # The rest are read by gunicorn.conf.py, the launcher, the scripts or the CLI (DATABASE_PARTITIONS, for
    # `db upgrade` alone): each appears there by name.
    root = Path(__file__).resolve().parents[2]
    elsewhere = "".join(path.read_text() for pattern in ("gunicorn.conf.py", "launch/*.py", "scripts/*", "app/cli.py",
                                                         "demo_backend/*.py", "tests/support/*.py")
                        for path in root.glob(pattern) if path.is_file())
    fields = {f.name.upper() for f in dataclasses.fields(Config)}
    for name in set(documented) - fields:
        assert name in elsewhere, f"docs/configuration.md documents {name}, which nothing reads"
