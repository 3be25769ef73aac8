"""The project's own OpenAPI document is valid OpenAPI 3 and describes what is served."""
import requests
from openapi_spec_validator import validate


def test_document_is_valid_openapi_3_and_needs_no_token(engine_process):
    response = requests.get(engine_process.url + "/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_documented_operation_is_routed(engine_process, admin):
    document = requests.get(engine_process.url + "/api/v1/openapi.json", timeout=10).json()
    for path, operations in document["paths"].items():
        for method in operations:
            if method == "parameters":
                continue
            # A stream (the change feed never ends by itself) is judged by its status and headers alone.
            streams = "application/x-ndjson" in operations[method]["responses"].get("200", {}).get("content", {})
            response = admin.call(method.upper(), path.replace("{id}", "x"), stream=streams,
                                  json={} if method in ("post", "patch") else None)
            unrouted = response.status_code in (404, 405) and \
                response.json()["message"] in ("no such endpoint", "method not allowed")
            response.close()
            assert not unrouted, (method, path)
