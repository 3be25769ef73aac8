"""Prometheus metrics. Under gunicorn every worker writes to PROMETHEUS_MULTIPROC_DIR and /metrics
aggregates them (gunicorn.conf.py marks dead workers); without it, one process's registry is served."""
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BREAKER_LEVEL = {"closed": 0, "half-open": 1, "open": 2}


class Metrics:
    def __init__(self):
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Histogram("chat_engine_http_request_duration_seconds",
                                  "Time to produce a response (streams: until headers)",
                                  ["method", "endpoint", "status"], buckets=LATENCY_BUCKETS)
        self.routing_overhead = Histogram(
            "chat_engine_routing_overhead_seconds",
            "Engine time from request received to the first byte sent to the backend", buckets=LATENCY_BUCKETS)
        self.time_to_first_chunk = Histogram(
            "chat_engine_time_to_first_chunk_seconds",
            "From request received to the first chunk relayed to the client", buckets=LATENCY_BUCKETS)
        self.active_streams = Gauge("chat_engine_active_streams", "Streams open now",
                                    multiprocess_mode="livesum")
        self.webhook_calls = Counter("chat_engine_webhook_calls_total", "Webhook calls by outcome",
                                     ["session_type", "event", "outcome"])
        self.breaker_state = Gauge("chat_engine_breaker_state",
                                   "Circuit breaker per session type: 0 closed, 1 half-open, 2 open",
                                   ["session_type"], multiprocess_mode="livemax")
        self.replies_ended = Counter("chat_engine_replies_ended_total",
                                     "Streamed replies by how they ended (stop_reason, or complete)", ["reason"])
        self.owners_suspected = Counter(
            "chat_engine_reply_owners_suspected_total",
            "Live replies found with their worker's lock missing (ended if it is still missing a second later)")
        self.notices = Counter("chat_engine_notices_total",
                               "Backend notice attempts by event and result: delivered, retried, dead_lettered",
                               ["event", "result"])
        # Read from the outbox table by every worker: the same figure, so the max across workers is it.
        self.notice_outbox = Gauge("chat_engine_notice_outbox",
                                   "Backend notices in the outbox: pending (to be tried) or dead (dead letters)",
                                   ["state"], multiprocess_mode="livemax")
        self.reads = Counter("chat_engine_reads_total",
                             "Reads that need no lock, by the server that served them (only with DATABASE_READ_URL) "
                             "and why: fresh / caught_up on a replica; lagging, behind, busy, unavailable or "
                             "not_standby on the primary",
                             ["server", "reason"])
        self.pool_size = Gauge("chat_engine_db_pool_size", "Connections held by the pool",
                               multiprocess_mode="livesum")
        self.pool_available = Gauge("chat_engine_db_pool_available", "Idle connections in the pool",
                                    multiprocess_mode="livesum")
        self.pool_waiting = Gauge("chat_engine_db_pool_waiting", "Requests waiting for a connection",
                                  multiprocess_mode="livesum")

    def observe_request(self, method, endpoint, status, seconds):
        self.requests.labels(method, endpoint or "unmatched", str(status)).observe(seconds)

    def stream_opened(self):
        self.active_streams.inc()

    def stream_closed(self):
        self.active_streams.dec()

    def routing(self, seconds):
        self.routing_overhead.observe(seconds)

    def first_chunk(self, seconds):
        self.time_to_first_chunk.observe(seconds)

    def webhook_call(self, session_type, event, outcome):
        self.webhook_calls.labels(session_type, event, outcome).inc()

    def reply_ended(self, stop_reason):
        self.replies_ended.labels(stop_reason or "complete").inc()

    def owner_suspected(self, count=1):
        self.owners_suspected.inc(count)

    def notice(self, event, result):
        self.notices.labels(event, result).inc()

    def notice_backlog(self, pending, dead):
        self.notice_outbox.labels("pending").set(pending)
        self.notice_outbox.labels("dead").set(dead)

    def read_served(self, server, reason):
        self.reads.labels(server, reason).inc()

    def breaker(self, session_type, state):
        self.breaker_state.labels(session_type).set(BREAKER_LEVEL.get(state, 0))

    def pool(self, stats):
        self.pool_size.set(stats.get("pool_size", 0))
        self.pool_available.set(stats.get("pool_available", 0))
        self.pool_waiting.set(stats.get("requests_waiting", 0))

    def render(self):
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(), CONTENT_TYPE_LATEST


_metrics = None


def get_metrics():
    """One set of collectors per process: prometheus-client refuses to register a name twice."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics
