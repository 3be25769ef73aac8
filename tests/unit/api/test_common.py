"""app/api/common.py, in-process: every malformed id in a URL path is the same 400, whatever its kind."""
import uuid

import pytest

from app import ids
from support.engine import token

SESSION = ids.session_gts(uuid.uuid4())


@pytest.mark.parametrize("method, path, admin, kind, field", [
    ("get", "/sessions/123", False, "session", "id"),
    ("get", "/messages/x/variants", False, "message", "id"),
    ("get", "/admin/session-types/bad", True, "session type", "id"),
    ("delete", f"/sessions/{SESSION}/shares/not-a-uuid", False, "share", "share_id"),
    ("get", "/exports/not-a-uuid?expires=1&signature=x", False, "export", "id"),
])
def test_malformed_path_ids_are_one_kind_of_400(client, contract, method, path, admin, kind, field):
    headers = {"Authorization": f"Bearer {token('ops', admin=admin)}"}
    response = getattr(client, method)("/api/v1" + path, headers=headers)
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["message"] == f"not a valid {kind} id"
    assert body["details"]["validation_errors"] == [{"field": field, "message": f"not a valid {kind} id",
                                                     "code": "invalid"}]
