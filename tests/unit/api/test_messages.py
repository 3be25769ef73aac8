"""app/api/messages.py, in-process: request errors found before any query."""
import uuid

from app import ids
from support.engine import token


def test_more_than_ten_files_is_400(client, contract):
    files = [f"3fa85f64-5717-4562-b3fc-2c963f66af{i:02d}" for i in range(11)]
    response = client.post("/api/v1/messages/send", headers={"Authorization": f"Bearer {token('alice')}"},
                           json={"session_id": ids.session_gts(uuid.uuid4()), "content": "x", "file_ids": files})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "file_ids"
