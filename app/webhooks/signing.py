"""Webhook request signatures, so a backend can tell the engine's requests from anyone else's.

    X-Chat-Engine-Timestamp: <unix seconds>
    X-Chat-Engine-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

The timestamp is inside the signed text, so a backend that refuses stale timestamps (5 minutes is the
recommended tolerance) also refuses replays of old requests. Each session type has its own secret
(`whsec_…`), generated at registration and shown once.
"""
import hashlib
import hmac
import secrets
import time

TIMESTAMP_HEADER = "X-Chat-Engine-Timestamp"
SIGNATURE_HEADER = "X-Chat-Engine-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def is_well_formed(secret):
    body = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else ""
    return 32 <= len(body) <= 200 and all(c.isascii() and (c.isalnum() or c in "-_") for c in body)


def signature(secret, timestamp, body):
    signed = str(timestamp).encode() + b"." + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(secret, body, now=None):
    """The headers of one signed request; `body` is the exact bytes sent."""
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret, timestamp, signature_header, body, tolerance=DEFAULT_TOLERANCE_SECONDS, now=None):
    """True when the signature matches and the timestamp is within `tolerance` seconds of now.
    Several comma-separated `v1=` values are accepted (one per secret during a rotation)."""
    if not timestamp or not signature_header or not timestamp.isascii() or not timestamp.isdigit():
        return False
    current = now if now is not None else time.time()
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), candidate.strip().encode())
               for candidate in signature_header.split(",") if candidate.strip().isascii())
