"""The reference web client's routes (app/web): served at / only when enabled, the demo token only in
development mode, the page under a content security policy that allows nothing from elsewhere."""
import jwt

from app import create_app
from support.engine import JWT_SECRET
from support.inprocess import make_config


def client(**settings):
    return create_app(make_config(**settings)).test_client()


def test_the_client_is_not_served_unless_enabled():
    response = client(web_client=False).get("/")
    assert response.status_code == 404 and response.json["error_code"] == "INVALID_REQUEST"


def test_the_page_and_its_files_are_served_under_a_strict_policy():
    web = client(web_client=True)
    page = web.get("/")
    assert page.status_code == 200 and b'<script src="/web/app.js" defer></script>' in page.data
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert web.get("/web/app.js").status_code == 200 and web.get("/web/style.css").status_code == 200
    assert web.get("/web/../app/config.py").status_code == 404


def test_the_demo_token_exists_only_in_development_mode():
    assert client(web_client=True, chat_engine_dev_mode=False).get("/web/demo-token").status_code == 404
    answer = client(web_client=True, chat_engine_dev_mode=True).get("/web/demo-token").json
    assert jwt.decode(answer["token"], JWT_SECRET, algorithms=["HS256"])["sub"] == "demo-user"
