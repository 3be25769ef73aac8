"""Blueprints: /api/v1 (JWT on every call except the public ones) and the operational endpoints."""
from flask import Blueprint, request

from app.api import admin, health, messages, openapi, sessions
from app.auth import authenticate

PUBLIC_ENDPOINTS = {"api_v1.openapi.openapi_document"}


def _authenticate_unless_public():
    if request.endpoint not in PUBLIC_ENDPOINTS:
        authenticate()


def register(app):
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    api.before_request(_authenticate_unless_public)
    for blueprint in (sessions.bp, messages.bp, admin.bp, openapi.bp):
        api.register_blueprint(blueprint)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)
