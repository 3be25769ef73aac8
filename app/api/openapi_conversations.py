"""OpenAPI parts of conversations that last (issue 24): erasing everything of the caller."""
from app.api.openapi_terms import errors, json_response, ref


def schemas():
    return {}  # Erased and ErasedCounts are response shapes (app/schemas/responses.py)


def paths():
    return {
        "/me/data": {
            "delete": {"operationId": "eraseMyData",
                       "summary": "Erase everything of the caller: its sessions with all under them, its "
                                  "reactions, exports, idempotency records and branches as a share recipient; "
                                  "each session's backend gets session.deleted. Answers with the counts; "
                                  "calling it again finishes an erasure that was cut short",
                       "responses": {"200": json_response("What was deleted", ref("Erased")),
                                     **errors(401, 503)}},
        },
    }
