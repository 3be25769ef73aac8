"""Blueprints: /api/v1 (JWT on every call except the public ones) and the operational endpoints."""
from flask import Blueprint, request

from app.api import admin, chat_apps, events, exports, health, me, messages, openapi, search, sessions, shares
from app.auth import authenticate

# Reachable without a JWT: the API description, the read-only share view, signed export links.
PUBLIC_ENDPOINTS = {"api_v1.openapi.openapi_document", "api_v1.shares.view_shared", "api_v1.exports.download_export"}


def _authenticate_unless_public():
    if request.endpoint not in PUBLIC_ENDPOINTS:
        authenticate()


def register(app):
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    api.before_request(_authenticate_unless_public)
    for blueprint in (sessions.bp, messages.bp, search.bp, shares.bp, exports.bp, admin.bp, openapi.bp, chat_apps.bp,
                      me.bp, events.bp):
        api.register_blueprint(blueprint)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)
