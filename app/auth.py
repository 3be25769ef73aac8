"""JWT verification -> the caller's identity (SPEC §9)."""
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
    options = {"require": ["exp", "sub"]}
    try:
        claims = jwt.decode(
            token, verification_key(config), algorithms=config.jwt_algorithms,
            issuer=config.jwt_issuer, audience=config.jwt_audience, options=options)
    except jwt.ExpiredSignatureError:
        raise auth_required("token expired") from None
    except jwt.PyJWTError:
        raise auth_required("invalid token") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise auth_required("token has no subject")
    if text_problem(subject) or len(subject) > 255:
        raise auth_required("token subject is not a usable client id")  # it is stored as text
    return Caller(client_id=subject, is_admin=config.jwt_admin_role in roles_of(claims, config.jwt_roles_claim))


def roles_of(claims, claim_name):
    """The roles a token carries: a list of strings or a space-separated string. Any other shape (a number,
    an object such as {"admin": false}, a list holding non-strings) carries none: never guess privileges."""
    value = claims.get(claim_name)
    if isinstance(value, str):
        return frozenset(value.split())
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
