"""Checking the engine's webhook signature: a self-contained example for backend authors.

    X-Chat-Engine-Timestamp: <unix seconds>
    X-Chat-Engine-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

Verify over the raw request bytes (before any JSON parsing), compare in constant time, and refuse
timestamps older (or newer) than five minutes so a captured request cannot be replayed later.
"""
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def signature_is_valid(secrets, timestamp, signature_header, raw_body, now=None, tolerance=TOLERANCE_SECONDS):
    """`secrets`: the current secret, plus the previous one while a rotation is rolled out."""
    if not timestamp or not signature_header or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        return False
    offered = [part.strip() for part in signature_header.split(",")]
    for secret in secrets:
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
        expected = ("v1=" + digest).encode()
        if any(candidate.isascii() and hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
            return True
    return False
