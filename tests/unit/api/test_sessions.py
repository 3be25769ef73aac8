"""app/api/sessions.py, in-process: request errors found before any query."""
from support.engine import token


def test_create_session_rejects_another_client_id(client, contract):
    response = client.post("/api/v1/sessions", headers={"Authorization": f"Bearer {token('alice')}"},
                           json={"session_type_id": "gts.hyperspot.chat_engine.session_types.bot.v1~",
                                 "client_id": "mallory"})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "client_id"


def test_an_idempotency_key_must_be_short_printable_ascii(client, contract):
    for key in ("k" * 256, "clé", "tab\there"):
        response = client.post("/api/v1/sessions", headers={"Authorization": f"Bearer {token('alice')}",
                                                             "Idempotency-Key": key},
                               json={"session_type_id": "gts.hyperspot.chat_engine.session_types.bot.v1~"})
        body = contract.validate_error(response, 400, "INVALID_REQUEST")
        assert body["details"]["validation_errors"][0]["field"] == "Idempotency-Key"
