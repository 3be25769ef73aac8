"""app/secret_keys.py: weak or published secrets stop the start unless development mode says otherwise."""
import logging
import secrets

import pytest

from app import create_app
from app.secret_keys import check, weakness
from support.inprocess import make_config

STRONG = secrets.token_urlsafe(48)


@pytest.mark.parametrize("secret", [
    "short-but-random-7Gq2",                                 # < 32 bytes
    "change-me-to-a-long-random-secret-of-32-bytes",         # the old compose default
    "CHANGE_ME_TO_A_LONG_RANDOM_SECRET",                     # the old k8s placeholder
    "x" * 40,                                                # long, but not random
    "abababababababababababababababababab",
    "secret",
])
def test_weak_jwt_secrets_stop_the_start(secret):
    assert weakness(secret)
    with pytest.raises(RuntimeError, match="JWT_SECRET is weak"):
        check(make_config(jwt_secret=secret))
    with pytest.raises(RuntimeError, match="CHAT_ENGINE_DEV_MODE"):
        create_app(make_config(jwt_secret=secret))


def test_a_weak_signing_key_stops_the_start_too():
    with pytest.raises(RuntimeError, match="SIGNING_KEY is weak"):
        check(make_config(jwt_secret=STRONG, signing_key="change-me"))


def test_a_random_secret_starts():
    assert weakness(STRONG) is None
    check(make_config(jwt_secret=STRONG, signing_key=secrets.token_hex(32)))
    assert create_app(make_config(jwt_secret=STRONG)) is not None


def test_development_mode_accepts_weak_secrets_and_says_so(capsys):
    app = create_app(make_config(jwt_secret="dev", chat_engine_dev_mode=True))  # logs JSON to stderr
    assert app is not None
    stderr = capsys.readouterr().err
    assert "DEVELOPMENT MODE" in stderr and "JWT_SECRET is weak" in stderr


def test_development_mode_warns_even_with_strong_secrets(caplog):
    with caplog.at_level(logging.WARNING, logger="app.secret_keys"):
        check(make_config(jwt_secret=STRONG, chat_engine_dev_mode=True))
    assert "DEVELOPMENT MODE" in caplog.text


def test_public_key_setups_do_not_need_a_jwt_secret():
    check(make_config(jwt_algorithms=["RS256"], jwt_secret=None, jwt_public_key="pem"))
