"""app/webhooks/signing.py and the demo backend's standalone check agree on the scheme."""
import hashlib
import hmac

from app.webhooks import signing
from demo_backend.verify import signature_is_valid

SECRET = signing.new_secret()
BODY = b'{"event":"message.new","x":"\\u00e9"}'


def test_secrets_are_prefixed_random_and_well_formed():
    assert SECRET.startswith("whsec_") and signing.is_well_formed(SECRET)
    assert signing.new_secret() != SECRET
    assert not signing.is_well_formed("whsec_short")
    assert not signing.is_well_formed("x" * 50)
    assert not signing.is_well_formed("whsec_" + "é" * 40)


def test_signature_is_hmac_sha256_of_timestamp_dot_raw_body():
    headers = signing.headers(SECRET, BODY, now=1_700_000_000)
    assert headers["X-Chat-Engine-Timestamp"] == "1700000000"
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Chat-Engine-Signature"] == "v1=" + expected


def test_verification_accepts_fresh_signatures_only():
    headers = signing.headers(SECRET, BODY, now=1_700_000_000)
    ts, sig = headers["X-Chat-Engine-Timestamp"], headers["X-Chat-Engine-Signature"]
    for check in (lambda *a, **k: signing.verify(SECRET, *a, **k),
                  lambda *a, **k: signature_is_valid([SECRET], *a, **k)):
        assert check(ts, sig, BODY, now=1_700_000_000 + 299)
        assert not check(ts, sig, BODY, now=1_700_000_000 + 301)        # stale: a replay
        assert not check(ts, sig, BODY, now=1_700_000_000 - 301)        # from the future
        assert not check(ts, sig, BODY + b" ", now=1_700_000_000)       # body changed
        assert not check("1700000001", sig, BODY, now=1_700_000_000)    # timestamp changed
        assert not check(ts, "v1=" + "0" * 64, BODY, now=1_700_000_000)
        assert not check(ts, "v1=é", BODY, now=1_700_000_000)           # non-ASCII never raises
        assert not check("²", sig, BODY, now=1_700_000_000)
        assert not check(None, None, BODY, now=1_700_000_000)
        assert check(ts, "v1=" + "0" * 64 + ", " + sig, BODY, now=1_700_000_000)  # several offered


def test_a_backend_accepts_old_and_new_secret_during_a_rotation():
    new = signing.new_secret()
    headers = signing.headers(new, BODY, now=1_700_000_000)
    args = (headers["X-Chat-Engine-Timestamp"], headers["X-Chat-Engine-Signature"], BODY)
    assert not signature_is_valid([SECRET], *args, now=1_700_000_000)
    assert signature_is_valid([SECRET, new], *args, now=1_700_000_000)
