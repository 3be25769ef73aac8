"""The reference web client: static files served at / (no build step, no framework), which use only the
public API under the same auth and CORS rules as any client. On in development mode, or with WEB_CLIENT=1.

In development mode it also offers the demo user's token (`GET /web/demo-token`), so that the page opened
from `scripts/run` works at once; outside development mode that address does not exist.
"""
import os

from flask import Blueprint, jsonify, send_from_directory

from app.auth import issue_token
from app.errors import not_found
from app.services import current_services

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEMO_USER = "demo-user"
# Everything the page loads comes from here; no inline script or style, nothing from elsewhere.
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
          "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

bp = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/web")


@bp.get("/")
def index():
    response = send_from_directory(STATIC, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = POLICY
    return response


@bp.get("/web/demo-token")
def demo_token():
    config = current_services().config
    if not config.chat_engine_dev_mode:
        raise not_found("no demo token outside development mode")
    return jsonify({"token": issue_token(config, DEMO_USER), "client_id": DEMO_USER})


def register(app, config):
    if config.web_client:
        app.register_blueprint(bp)
