"""OpenAPI parts of webhook security: the once-shown signing secret and its rotation."""
from app.api.openapi_terms import SESSION_TYPE_ID, errors, json_response, obj, path_param, ref

SECRET = {"type": "string", "pattern": "^whsec_[A-Za-z0-9_-]{32,200}$",
          "description": "Signs every webhook request to this session type (X-Chat-Engine-Signature: "
                         "v1=hex HMAC-SHA256(secret, timestamp + '.' + raw body)). Shown only here."}


def schemas():
    return {
        "SessionTypeCreated": {"allOf": [ref("SessionType"), obj({"webhook_secret": SECRET},
                                                                 required=("webhook_secret",))]},
        "WebhookSecret": obj({"session_type_id": SESSION_TYPE_ID, "webhook_secret": SECRET},
                             required=("session_type_id", "webhook_secret"), extra=False),
    }


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
