"""The demo backend the quickstart and load tests use: it speaks the webhook protocol to the engine."""
from demo_backend.app import make_app
from demo_backend.server import make_server


def test_engine_streams_the_demo_backends_echo(api, admin, contract):
    server = make_server(make_app(delay=0), "127.0.0.1", 0)
    server.start()
    try:
        created = admin.post("/admin/session-types", json={
            "name": "demo_in_test", "webhook_url": f"http://127.0.0.1:{server.server_port}/", "health_check": True})
        assert created.status_code == 201
        session_id = api.create_session(created.json()["session_type_id"])
        result = api.send(session_id, "ping pong")
        contract.validate_stream(result.events)
        assert result.text == "You said: ping pong"
        assert result.types.count("chunk") == 4
        again = api.recreate(result.message_id)
        assert again.text == "Here is another answer, after 1 earlier messages."
    finally:
        server.stop()
