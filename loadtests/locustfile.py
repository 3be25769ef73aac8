"""Locust scenarios: chat users against the engine and a baseline straight to the demo backend.

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8080 -u 500 -r 50 -t 2m \
        --processes 2 --csv out/run --html out/run.html --ack-dir out/acks

One ChatUser = one session: it creates it, then converses with think time: sends (reading the NDJSON
stream to its end), sometimes recreates or branches, lists and searches. Custom samples (request type
METRIC): `ttfc engine` / `ttfc direct` (time to first chunk through the engine and straight from the
backend with the same payload, in the same run), `stream engine`, `session create`. Every completed
exchange and created session is appended to --ack-dir, for the data check after the run. The run
fails (exit 1) past --max-error-ratio or --max-p95-ms.
"""
import hashlib
import hmac
import itertools
import json
import os
import random
import time
import uuid

import jwt
import locust.runners
from locust import FastHttpUser, events, task

# On a saturated 2-core machine Locust's own worker processes can miss their 1 s heartbeats for a few
# seconds. The master then declares them gone, stops the test and spawns every user again: the spawn
# happens twice and the load is no longer the one asked for. Tolerate 30 s of silence instead of 3.
locust.runners.HEARTBEAT_LIVENESS = 30

DEMO_WEBHOOK_SECRET = os.environ.get("DEMO_WEBHOOK_SECRET", "").split(",")[0]


def _signature_headers(secret, body):
    """The engine's webhook signature (app/webhooks/signing.py), standalone: locust runs outside the app."""
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Chat-Engine-Timestamp": timestamp, "X-Chat-Engine-Signature": "v1=" + digest}


SESSION_TYPE = os.environ.get("LOAD_SESSION_TYPE", "gts.hyperspot.chat_engine.session_types.load_demo.v1~")
_user_numbers = itertools.count()
WORDS = "river mountain coffee garden rocket violin planet harbor lantern meadow".split()


@events.init_command_line_parser.add_listener
def _arguments(parser):
    parser.add_argument("--jwt-secret", default="load-test-secret-long-enough-for-hmac-sha256")
    parser.add_argument("--direct-url", default="", help="demo backend URL for the baseline users")
    parser.add_argument("--ack-dir", default="", help="where users record created sessions and completed replies")
    parser.add_argument("--think-min", type=float, default=1.0)
    parser.add_argument("--think-max", type=float, default=3.0)
    parser.add_argument("--session-types", default=SESSION_TYPE,
                        help="comma-separated; users are spread over them round robin")
    parser.add_argument("--max-error-ratio", type=float, default=0.01)
    parser.add_argument("--max-p95-ms", type=float, default=0, help="p95 bound for all requests (0: none)")
    parser.add_argument("--baseline-users", type=int, default=10)


def _metric(environment, name, milliseconds, error=None):
    environment.events.request.fire(request_type="METRIC", name=name, response_time=milliseconds,
                                    response_length=0, exception=error, context={})


class Acks:
    """Appends to one file per process: `session <id>` and `reply <assistant id>` lines."""
    _handle = None

    @classmethod
    def write(cls, environment, kind, value):
        directory = environment.parsed_options.ack_dir
        if not directory:
            return
        if cls._handle is None:
            os.makedirs(directory, exist_ok=True)
            cls._handle = open(os.path.join(directory, f"acks-{os.getpid()}.txt"), "a", buffering=1)
        cls._handle.write(f"{kind} {value}\n")


def read_stream(response):
    """(events, perf_counter() when the first chunk arrived or None), reading NDJSON line by line."""
    first_chunk, out = None, []
    raw = response._response
    while True:
        line = raw.readline(b"\n")
        if not line:
            break
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("type") == "chunk" and first_chunk is None:
            first_chunk = time.perf_counter()
        out.append(event)
    return out, first_chunk


class ChatUser(FastHttpUser):
    weight = 100

    def wait_time(self):
        options = self.environment.parsed_options
        return random.uniform(options.think_min, options.think_max)

    def on_start(self):
        options = self.environment.parsed_options
        types = options.session_types.split(",")
        self.session_type = types[next(_user_numbers) % len(types)]  # an even split over the types
        # With several session types, samples are named per type so a report can compare them.
        self.label = f" [{self.session_type.split('.')[-2]}]" if len(types) > 1 else ""
        self.client_id = f"load-{uuid.uuid4().hex[:12]}"
        token = jwt.encode({"sub": self.client_id, "exp": int(time.time()) + 86400}, options.jwt_secret,
                           algorithm="HS256")
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.session_id, self.first_user_message, self.last_reply = None, None, None
        started = time.perf_counter()
        with self.client.post("/api/v1/sessions", json={"session_type_id": self.session_type},
                              headers=self.headers, name="POST /sessions", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"create: {response.status_code}")
                return
            self.session_id = response.json()["session_id"]
        _metric(self.environment, "session create", (time.perf_counter() - started) * 1000)
        Acks.write(self.environment, "session", self.session_id.split("~")[1])

    def _stream(self, path, body, name):
        name += self.label
        started = time.perf_counter()
        with self.client.post(path, json=body, headers=self.headers, name=name, stream=True,
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{name}: HTTP {response.status_code}")
                return None
            try:
                streamed, first_chunk = read_stream(response)
            except Exception as exc:  # noqa: BLE001 - a broken stream is a failed request
                response.failure(f"{name}: stream broke ({type(exc).__name__})")
                return None
            if not streamed or streamed[-1]["type"] != "complete":
                last = streamed[-1] if streamed else {}
                response.failure(f"{name}: ended with {last.get('type')} {last.get('error_code', '')}")
                return None
            response.success()
        if first_chunk is not None:
            _metric(self.environment, "ttfc engine" + self.label, (first_chunk - started) * 1000)
        _metric(self.environment, "stream engine" + self.label, (time.perf_counter() - started) * 1000)
        reply = streamed[0]["message_id"]
        Acks.write(self.environment, "reply", reply.split("~")[1])
        return response, reply

    @task(10)
    def send(self):
        if not self.session_id:
            return
        # if_busy=interrupt: a user whose stream broke (its instance was killed) sends again at once; the
        # reply left streaming is ended (superseded) instead of a 409 until its lease lapses.
        result = self._stream("/api/v1/messages/send", {"session_id": self.session_id,
                                                        "content": " ".join(random.sample(WORDS, 4)),
                                                        "if_busy": "interrupt"},
                              "POST /messages/send")
        if result:
            response, self.last_reply = result
            if self.first_user_message is None:
                self.first_user_message = response.headers.get("X-User-Message-Id")

    @task(1)
    def recreate(self):
        if self.last_reply:
            result = self._stream(f"/api/v1/messages/{self.last_reply}/recreate", None, "POST /messages/recreate")
            if result:
                self.last_reply = result[1]

    @task(1)
    def branch(self):
        if self.first_user_message:
            result = self._stream("/api/v1/messages/send", {
                "session_id": self.session_id, "content": "a different direction",
                "parent_message_id": self.first_user_message, "if_busy": "interrupt"},
                "POST /messages/send (branch)")
            if result:
                self.last_reply = result[1]

    @task(2)
    def list_messages(self):
        if self.session_id:
            self.client.get(f"/api/v1/sessions/{self.session_id}/messages", headers=self.headers,
                            name="GET /sessions/{id}/messages")

    @task(1)
    def search(self):
        if self.session_id:
            self.client.get(f"/api/v1/sessions/{self.session_id}/search", params={"query": random.choice(WORDS)},
                            headers=self.headers, name="GET /sessions/{id}/search")


class BaselineUser(FastHttpUser):
    """Calls the demo backend directly with a message.new payload like the engine's: the baseline for
    routing overhead, measured in the same run on the same machine."""
    fixed_count = 10

    def wait_time(self):
        options = self.environment.parsed_options
        return random.uniform(options.think_min, options.think_max)

    def on_start(self):
        self.direct = self.environment.parsed_options.direct_url
        self.history = []

    @task
    def direct_message(self):
        if not self.direct:
            return
        payload = {"event": "message.new",
                   "session_id": f"gts.hyperspot.chat_engine.entities.session.v1~{uuid.uuid4()}",
                   "message_id": f"gts.hyperspot.chat_engine.entities.message.v1~{uuid.uuid4()}",
                   "session_metadata": {}, "enabled_capabilities": [],
                   "message": {"role": "user", "content": " ".join(random.sample(WORDS, 4))},
                   "history": self.history[-10:], "timestamp": "2026-01-01T00:00:00Z"}
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if DEMO_WEBHOOK_SECRET:  # signed like the engine's requests, so the baseline pays the same
            headers.update(_signature_headers(DEMO_WEBHOOK_SECRET, body))
        started = time.perf_counter()
        with self.client.post(self.direct, data=body, headers=headers, name="direct message.new", stream=True,
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            streamed, first_chunk = read_stream(response)
            response.success()
        if first_chunk is not None:
            _metric(self.environment, "ttfc direct", (first_chunk - started) * 1000)
        _metric(self.environment, "stream direct", (time.perf_counter() - started) * 1000)


@events.test_start.add_listener
def _baseline_count(environment, **kwargs):
    BaselineUser.fixed_count = environment.parsed_options.baseline_users if environment.parsed_options.direct_url \
        else 0


@events.quitting.add_listener
def _thresholds(environment, **kwargs):
    options = environment.parsed_options
    total = environment.stats.total
    if total.num_requests and total.fail_ratio > options.max_error_ratio:
        print(f"FAIL: error ratio {total.fail_ratio:.4f} > {options.max_error_ratio}")
        environment.process_exit_code = 1
    if options.max_p95_ms and total.get_response_time_percentile(0.95) > options.max_p95_ms:
        print(f"FAIL: p95 {total.get_response_time_percentile(0.95):.0f} ms > {options.max_p95_ms} ms")
        environment.process_exit_code = 1
