"""Secrets the engine refuses to run with, and the keys it derives from them.

A weak or published JWT secret lets anyone mint tokens, admin ones included, so the engine refuses to
start with one unless development mode (CHAT_ENGINE_DEV_MODE=1) is set explicitly, and then it says so
loudly. Export links get their own key: SIGNING_KEY, or one derived from the JWT secret with domain
separation, so a leaked link key can never sign tokens.
"""
import hashlib
import hmac
import logging

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
# A random secret of 32+ bytes has far more distinct characters; "x" * 40 or "abab…" do not.
MIN_DISTINCT_CHARACTERS = 8
EXPORT_LINK_DOMAIN = b"chat-engine/export-links"
# Words that only appear in secrets copied from examples and documentation.
PLACEHOLDER_MARKERS = ("change-me", "change_me", "changeme", "replace-me", "replace_me", "your-secret",
                       "your_secret", "example", "placeholder", "insecure", "not-a-secret", "dev-secret")
KNOWN_PLACEHOLDERS = {"secret", "jwt_secret", "jwt-secret", "password", "supersecret", "test", "default"}


def weakness(secret):
    """Why a secret is unfit for production, or None when it is fine."""
    if not secret:
        return "it is empty"
    lowered = secret.lower()
    if lowered in KNOWN_PLACEHOLDERS or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "it is a known placeholder"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"it is shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return "it repeats too few characters to be random"
    return None


def _uses_shared_secret(config):
    return any(alg.upper().startswith("HS") for alg in config.jwt_algorithms)


def problems(config):
    found = []
    if _uses_shared_secret(config) and config.jwt_secret is not None:
        reason = weakness(config.jwt_secret)
        if reason:
            found.append(f"JWT_SECRET is weak: {reason}")
    if config.signing_key is not None:
        reason = weakness(config.signing_key)
        if reason:
            found.append(f"SIGNING_KEY is weak: {reason}")
    return found


def check(config):
    """Refuse weak secrets; development mode only downgrades that to a loud warning."""
    found = problems(config)
    if config.chat_engine_dev_mode:
        log.warning("DEVELOPMENT MODE (CHAT_ENGINE_DEV_MODE=1): weak secrets are accepted; never run "
                    "like this in production%s", (": " + "; ".join(found)) if found else "")
        return
    if found:
        raise RuntimeError("; ".join(found) + f". Use a random value of at least {MIN_SECRET_BYTES} bytes "
                           "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or set "
                           "CHAT_ENGINE_DEV_MODE=1 for local development only.")


def export_link_key(config):
    """The key of signed export links: SIGNING_KEY, else derived from JWT_SECRET, never the raw JWT secret."""
    if config.signing_key:
        return config.signing_key.encode()
    if config.jwt_secret:
        return hmac.new(config.jwt_secret.encode(), EXPORT_LINK_DOMAIN, hashlib.sha256).digest()
    return None
