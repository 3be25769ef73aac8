"""JWT verification -> the caller's identity."""
import functools
import time
from dataclasses import dataclass

import jwt
from flask import g, request

from app.errors import auth_required, not_found
from app.input_guard import text_problem
from app.services import current_services

FORBIDDEN_ALGORITHMS = {"none"}


@dataclass(frozen=True)
class Caller:
    client_id: str
    is_admin: bool


def verification_key(config):
    if any(alg.startswith(("RS", "ES", "PS", "Ed")) for alg in config.jwt_algorithms):
        return config.jwt_public_key
    return config.jwt_secret


def check_config(config):
    algorithms = {alg.lower() for alg in config.jwt_algorithms}
    if not algorithms or algorithms & FORBIDDEN_ALGORITHMS:
        raise RuntimeError("JWT_ALGORITHMS must list real algorithms (never 'none')")
    if not verification_key(config):
        raise RuntimeError("set JWT_SECRET (HS*) or JWT_PUBLIC_KEY (RS*/ES*) to verify tokens")


def decode_token(token, config):
    try:
        caller, expires = _verified(token, verification_key(config), tuple(config.jwt_algorithms),
                                    config.jwt_issuer, config.jwt_audience, config.jwt_admin_role,
                                    config.jwt_roles_claim)
    except jwt.ExpiredSignatureError:
        raise auth_required("token expired") from None
    except jwt.PyJWTError:
        raise auth_required("invalid token") from None
    if expires <= time.time():  # a token verified earlier has expired since (PyJWT's own test, no leeway)
        raise auth_required("token expired")
    return caller


# A client sends the same token with every request: its signature and claims are verified once, and
# afterwards only its expiry is checked again (what can change with time; a token valid once stays
# valid until then). Keyed by the token and everything the verification depends on. It holds what the
# token itself says, no session or message state (ADR-0010). Invalid tokens raise, so they are never
# kept; the bound keeps memory flat under a flood of valid ones.
@functools.lru_cache(maxsize=4096)
def _verified(token, key, algorithms, issuer, audience, admin_role, roles_claim):
    claims = jwt.decode(token, key, algorithms=list(algorithms), issuer=issuer, audience=audience,
                        options={"require": ["exp", "sub"]})
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise auth_required("token has no subject")
    if text_problem(subject) or len(subject) > 255:
        raise auth_required("token subject is not a usable client id")  # it is stored as text
    caller = Caller(client_id=subject, is_admin=admin_role in roles_of(claims, roles_claim))
    return caller, int(claims["exp"])


def roles_of(claims, claim_name):
    """The roles a token carries: a list of strings or a space-separated string. Any other shape (a number,
    an object such as {"admin": false}, a list holding non-strings) carries none: never guess privileges.
    A string splits on the ASCII space only (RFC 6749's scope syntax), never on str.split()'s whitespace:
    "user\\u2003admin" or "user\\tadmin" is one role, not the admin role."""
    value = claims.get(claim_name)
    if isinstance(value, str):
        return frozenset(role for role in value.split(" ") if role)
    if isinstance(value, list) and all(isinstance(role, str) for role in value):
        return frozenset(value)
    return frozenset()


def authenticate():
    """Before-request hook for /api/v1: sets g.caller or refuses the request."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise auth_required()
    g.caller = decode_token(token.strip(), current_services().config)


def require_admin():
    if not g.caller.is_admin:
        # 404 rather than 403: the admin surface does not exist for ordinary clients.
        raise not_found("no such endpoint")


def issue_token(config, client_id, admin=False, ttl_seconds=24 * 3600):
    """Development helper behind `flask token`: an HS* token signed with JWT_SECRET."""
    import time

    if not config.jwt_secret:
        raise RuntimeError("issuing tokens needs JWT_SECRET")
    now = int(time.time())
    claims = {"sub": client_id, "iat": now, "exp": now + ttl_seconds}
    if admin:
        claims[config.jwt_roles_claim] = [config.jwt_admin_role]
    if config.jwt_issuer:
        claims["iss"] = config.jwt_issuer
    if config.jwt_audience:
        claims["aud"] = config.jwt_audience
    algorithm = next((a for a in config.jwt_algorithms if a.startswith("HS")), "HS256")
    return jwt.encode(claims, config.jwt_secret, algorithm=algorithm)
