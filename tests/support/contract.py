"""Validating responses against the project's own OpenAPI document (as served by the engine)."""
from openapi_schema_validator import OAS30Validator


def json_of(response):
    """The JSON body of a `requests` response or of a Flask test client's response."""
    return response.json() if callable(response.json) else response.json


class Contract:
    def __init__(self, document):
        self.document = document

    def validate(self, instance, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": self.document["components"]}
        OAS30Validator(schema).validate(instance)
        return instance

    def validate_error(self, response, status, error_code):
        assert response.status_code == status, (response.status_code, response.text)
        body = self.validate(json_of(response), "Error")
        assert body["error_code"] == error_code, body
        return body

    def validate_stream(self, events):
        names = {"start": "StreamingStartEvent", "chunk": "StreamingChunkEvent",
                 "complete": "StreamingCompleteEvent", "error": "StreamingErrorEvent"}
        for event in events:
            self.validate(event, names[event["type"]])
        return events
