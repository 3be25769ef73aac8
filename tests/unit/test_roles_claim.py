"""A roles claim given as a string is split on the ASCII space only (the scope syntax of
RFC 6749 §3.3, as the README documents), never on other whitespace: "user\u2003admin" is one odd role,
not the admin role."""
import pytest

from app.auth import decode_token, roles_of
from support.engine import token
from support.inprocess import make_config

# Everything str.split() treats as whitespace besides the space: Unicode spaces, line and paragraph
# separators, the ASCII control characters it splits on, and the information separators.
NOT_SEPARATORS = ["\u2003", "\u00a0", "\u3000", "\u1680", "\u2000", "\u200a", "\u202f", "\u205f", "\u2028",
                  "\u2029", "\x85", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f"]


@pytest.mark.parametrize("separator", NOT_SEPARATORS, ids=lambda s: f"U+{ord(s):04X}")
def test_only_the_ascii_space_separates_roles(separator):
    claim = f"user{separator}admin"
    assert roles_of({"roles": claim}, "roles") == {claim}
    assert not decode_token(token("mallory", roles=claim), make_config()).is_admin
    assert not decode_token(token("mallory", roles=f"admin{separator}"), make_config()).is_admin


def test_spaces_separate_however_many():
    assert roles_of({"roles": "  reader   admin "}, "roles") == {"reader", "admin"}
    assert roles_of({"roles": ""}, "roles") == set() and roles_of({"roles": "   "}, "roles") == set()
    assert decode_token(token("ops", roles="reader  admin"), make_config()).is_admin


def test_the_admin_api_stays_hidden_from_a_token_with_a_unicode_spaced_role(client, contract):
    """Over HTTP (the in-process app): the admin surface does not exist for such a token (404)."""
    for claim in ("user\u2003admin", "user\u00a0admin", "user\tadmin", ["user\u2003admin"]):
        headers = {"Authorization": f"Bearer {token('mallory', roles=claim)}"}
        response = client.get("/api/v1/admin/session-types", headers=headers)
        contract.validate_error(response, 404, "INVALID_REQUEST")
