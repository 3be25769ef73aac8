"""OpenAPI parts of webhook security: the once-shown signing secret and its rotation."""
from app.api.openapi_terms import SESSION_TYPE_ID, errors, json_response, path_param, ref


def schemas():
    return {}  # SessionTypeCreated and WebhookSecret are response shapes (app/schemas/responses.py)


def paths():
    return {
        "/admin/session-types/{id}/webhook-secret": {
            "parameters": [path_param("id", SESSION_TYPE_ID, "Session type id")],
            "post": {"operationId": "rotateWebhookSecret",
                     "summary": "Replace the session type's webhook signing secret (admin role); the new "
                                "secret is returned once and the old one stops signing at once",
                     "responses": {"200": json_response("The new secret", ref("WebhookSecret")),
                                   **errors(400, 401, 404)}},
        },
    }
