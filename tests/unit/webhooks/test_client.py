"""app/webhooks/client.py's request body: JSON texts (history from PostgreSQL) spliced in as they are."""
import json

from app.webhooks.client import encode
from app.webhooks.events import JsonText


def test_a_payload_without_json_text_is_plain_json():
    assert json.loads(encode({"event": "x", "n": [1, 2]})) == {"event": "x", "n": [1, 2]}


def test_json_text_is_spliced_as_is_and_the_body_stays_valid_json():
    items = ['{"text":"ünï \\"q\\""}', '{"n":1}']
    body = encode({"event": "message.new", "history": JsonText.array(items), "message": {"content": "é"}})
    assert json.loads(body) == {"event": "message.new", "history": [{"text": "ünï \"q\""}, {"n": 1}],
                                "message": {"content": "é"}}
    assert json.loads(encode({"history": JsonText.array([])})) == {"history": []}
