"""Every setting, read from the environment in one place. docs/configuration.md lists each one, with its
default (tests/unit/test_config.py holds the two together)."""
import os
from dataclasses import dataclass, field

from app.secret_keys import export_link_key
from app.url_policy import DEFAULT_ALLOWED_NETWORKS

# Defaults the app/chat functions also fall back on when called without a Config.
DEFAULT_MAX_SIBLINGS_PER_PARENT = 100
DEFAULT_SIBLING_PAGE_MAX_BYTES = 1024 * 1024


def _int(name, default):
    return int(os.environ.get(name, default))


def _float(name, default):
    return float(os.environ.get(name, default))


def _str(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=lambda: _str("DATABASE_URL"))
    # What needs a session of its own (LISTEN, advisory locks, migrations) when DATABASE_URL is a
    # transaction pooler (PgBouncer); unset: DATABASE_URL. Set and different: statements are never
    # prepared server-side (a pooler hands each transaction another server connection).
    database_direct_url: str = field(default_factory=lambda: _str("DATABASE_DIRECT_URL"))
    db_pool_min_size: int = field(default_factory=lambda: _int("DB_POOL_MIN_SIZE", 2))
    db_pool_max_size: int = field(default_factory=lambda: _int("DB_POOL_MAX_SIZE", 10))
    # Per worker, for the final save of streamed replies only (app/db.py); 0: saves use the main pool.
    db_pool_reserved_size: int = field(default_factory=lambda: _int("DB_POOL_RESERVED_SIZE", 2))
    db_pool_timeout_seconds: float = field(default_factory=lambda: _float("DB_POOL_TIMEOUT_SECONDS", 5))
    db_pool_max_waiting: int = field(default_factory=lambda: _int("DB_POOL_MAX_WAITING", 200))
    db_connect_timeout_seconds: int = field(default_factory=lambda: _int("DB_CONNECT_TIMEOUT_SECONDS", 3))
    db_outage_wait_seconds: float = field(default_factory=lambda: _float("DB_OUTAGE_WAIT_SECONDS", 0.5))
    # A query that hears nothing from the server for this long abandons its connection (a hung primary,
    # a partition; app/gevent_wait.py). Above every statement timeout; 0: wait forever.
    db_silence_seconds: float = field(default_factory=lambda: _float("DB_SILENCE_SECONDS", 20))
    # How long a pool retries one lost connection (backing off 1, 2, 4 s) before it lets the next request
    # start afresh: short, so a promoted standby is found within seconds, not after a long backoff.
    db_reconnect_timeout_seconds: float = field(default_factory=lambda: _float("DB_RECONNECT_TIMEOUT_SECONDS", 5))
    # Read replicas (app/replicas.py): reads that need no lock go to DATABASE_READ_URL (one or more standbys)
    # when it is fresh enough. A read that presents a write's X-Chat-Engine-Read-After waits at most
    # READ_AFTER_WAIT_SECONDS for a replica to replay that far, else the primary serves it; a read without
    # one accepts a replica at most READ_MAX_LAG_SECONDS behind. Unset: everything on DATABASE_URL.
    database_read_url: str = field(default_factory=lambda: _str("DATABASE_READ_URL"))
    read_max_lag_seconds: float = field(default_factory=lambda: _float("READ_MAX_LAG_SECONDS", 5))
    read_after_wait_seconds: float = field(default_factory=lambda: _float("READ_AFTER_WAIT_SECONDS", 0.5))
    # After a replica failed to answer, reads go to the primary for this long before one tries it again.
    read_replica_retry_seconds: float = field(default_factory=lambda: _float("READ_REPLICA_RETRY_SECONDS", 2))

    jwt_secret: str = field(default_factory=lambda: _str("JWT_SECRET"))
    jwt_public_key: str = field(default_factory=lambda: _str("JWT_PUBLIC_KEY"))
    jwt_algorithms: list = field(default_factory=lambda: _list("JWT_ALGORITHMS", "HS256"))
    jwt_issuer: str = field(default_factory=lambda: _str("JWT_ISSUER"))
    jwt_audience: str = field(default_factory=lambda: _str("JWT_AUDIENCE"))
    jwt_roles_claim: str = field(default_factory=lambda: _str("JWT_ROLES_CLAIM", "roles"))
    jwt_admin_role: str = field(default_factory=lambda: _str("JWT_ADMIN_ROLE", "admin"))

    public_base_url: str = field(default_factory=lambda: _str("PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
    max_request_bytes: int = field(default_factory=lambda: _int("MAX_REQUEST_BYTES", 1024 * 1024))

    webhook_connect_timeout_seconds: float = field(
        default_factory=lambda: _float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5))
    # Where webhook and summarization URLs may point (app/url_policy.py); link-local and cloud metadata
    # endpoints are refused regardless.
    webhook_allowed_networks: list = field(
        default_factory=lambda: _list("WEBHOOK_ALLOWED_NETWORKS", DEFAULT_ALLOWED_NETWORKS))
    webhook_pool_maxsize: int = field(default_factory=lambda: _int("WEBHOOK_POOL_MAXSIZE", 1000))
    max_reply_bytes: int = field(default_factory=lambda: _int("MAX_REPLY_BYTES", 10 * 1024 * 1024))
    webhook_retry_attempts: int = field(default_factory=lambda: _int("WEBHOOK_RETRY_ATTEMPTS", 3))
    webhook_retry_initial_delay: float = field(default_factory=lambda: _float("WEBHOOK_RETRY_INITIAL_DELAY", 0.1))
    webhook_retry_max_delay: float = field(default_factory=lambda: _float("WEBHOOK_RETRY_MAX_DELAY", 5.0))
    # Backend notices (session.deleted, message.aborted, message.reaction): an outbox in PostgreSQL
    # (app/webhooks/outbox.py), each attempt bounded by NOTICE_TIMEOUT_SECONDS, retried with backoff from
    # NOTICE_RETRY_INITIAL_SECONDS doubling up to NOTICE_RETRY_MAX_SECONDS for NOTICE_RETRY_HOURS, then kept as
    # a dead letter for NOTICE_DEAD_LETTER_DAYS. Each worker claims NOTICE_BATCH at a time, every
    # NOTICE_POLL_SECONDS (and at once after writing one).
    notice_timeout_seconds: float = field(default_factory=lambda: _float("NOTICE_TIMEOUT_SECONDS", 10))
    notice_retry_initial_seconds: float = field(default_factory=lambda: _float("NOTICE_RETRY_INITIAL_SECONDS", 1))
    notice_retry_max_seconds: float = field(default_factory=lambda: _float("NOTICE_RETRY_MAX_SECONDS", 60))
    notice_retry_hours: float = field(default_factory=lambda: _float("NOTICE_RETRY_HOURS", 24))
    notice_dead_letter_days: float = field(default_factory=lambda: _float("NOTICE_DEAD_LETTER_DAYS", 7))
    notice_batch: int = field(default_factory=lambda: _int("NOTICE_BATCH", 50))
    notice_poll_seconds: float = field(default_factory=lambda: _float("NOTICE_POLL_SECONDS", 1))
    # `if_busy: enqueue`: replies that may wait in one session behind the one streaming (409 past it).
    max_queued_per_session: int = field(default_factory=lambda: _int("MAX_QUEUED_PER_SESSION", 3))
    # The change feed (GET /api/v1/events): how long events are kept, and a client's feed followed without a
    # connection; a cursor older than this is 410.
    feed_retention_seconds: float = field(default_factory=lambda: _float("FEED_RETENTION_SECONDS", 86400))
    # How often the retention sweep runs, across all instances (app/chat/erasure.py); each run scans sessions.
    retention_sweep_seconds: float = field(default_factory=lambda: _float("RETENTION_SWEEP_SECONDS", 3600))

    breaker_fail_max: int = field(default_factory=lambda: _int("BREAKER_FAIL_MAX", 5))
    breaker_reset_seconds: float = field(default_factory=lambda: _float("BREAKER_RESET_SECONDS", 60))
    breaker_half_open_max_calls: int = field(default_factory=lambda: _int("BREAKER_HALF_OPEN_MAX_CALLS", 3))

    max_streams_per_worker: int = field(default_factory=lambda: _int("MAX_STREAMS_PER_WORKER", 1000))
    max_streams_per_client: int = field(default_factory=lambda: _int("MAX_STREAMS_PER_CLIENT", 20))
    # Concurrent expensive reads (search, exports, message pages; app/read_slots.py), per worker; 0: no
    # bound. A client over its cap gets 429; past the worker's cap a read waits DB_POOL_TIMEOUT_SECONDS.
    max_concurrent_reads_per_client: int = field(default_factory=lambda: _int("MAX_CONCURRENT_READS_PER_CLIENT", 4))
    max_concurrent_reads_per_worker: int = field(default_factory=lambda: _int(
        "MAX_CONCURRENT_READS_PER_WORKER", max(1, _int("DB_POOL_MAX_SIZE", 10) // 2)))
    stream_buffer_limit_bytes: int = field(
        default_factory=lambda: _int("STREAM_BUFFER_LIMIT_BYTES", 10 * 1024 * 1024))
    # A stream (send, rejoin, replay) whose client accepts nothing this long is cut (relay.WriteWatch); 0: never.
    stream_write_timeout_seconds: float = field(
        default_factory=lambda: _float("STREAM_WRITE_TIMEOUT_SECONDS", 30))
    # The message tree: variants (siblings) under one parent, where recreate, a branch, an
    # edit or a post adds one (409 past it; the common send never does); content per page of siblings.
    max_siblings_per_parent: int = field(
        default_factory=lambda: _int("MAX_SIBLINGS_PER_PARENT", DEFAULT_MAX_SIBLINGS_PER_PARENT))
    sibling_page_max_bytes: int = field(
        default_factory=lambda: _int("SIBLING_PAGE_MAX_BYTES", DEFAULT_SIBLING_PAGE_MAX_BYTES))

    search_statement_timeout_ms: int = field(default_factory=lambda: _int("SEARCH_STATEMENT_TIMEOUT_MS", 5000))
    export_statement_timeout_ms: int = field(default_factory=lambda: _int("EXPORT_STATEMENT_TIMEOUT_MS", 15000))
    # Resumable replies, leases and idempotency.
    lease_seconds: float = field(default_factory=lambda: _float("LEASE_SECONDS", 20))
    # A dead worker's replies are ended when its lock is missing, but only once the workers attached to the
    # server have been attached this long: after a failover or a restart every live worker must have
    # dialled it again first (sql/functions/live_replies.sql). Above a listener's worst reconnect time.
    owner_settle_seconds: float = field(default_factory=lambda: _float("OWNER_SETTLE_SECONDS", 8))
    chunk_flush_seconds: float = field(default_factory=lambda: _float("CHUNK_FLUSH_SECONDS", 0.25))
    # on: batches while streaming; end: only with the reply's end; off: never (see README).
    chunk_log: str = field(default_factory=lambda: _str("CHUNK_LOG", "on").lower())
    stop_wait_seconds: float = field(default_factory=lambda: _float("STOP_WAIT_SECONDS", 2))
    idempotency_ttl_seconds: int = field(default_factory=lambda: _int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600))
    # How long an ended reply's chunk log is kept for late rejoiners; then a rejoin replays the stored message.
    chunk_log_grace_seconds: float = field(default_factory=lambda: _float("CHUNK_LOG_GRACE_SECONDS", 600))
    # Revoked or expired share links are deleted this many days after they stopped working.
    share_retention_days: float = field(default_factory=lambda: _float("SHARE_RETENTION_DAYS", 30))

    export_ttl_seconds: int = field(default_factory=lambda: _int("EXPORT_TTL_SECONDS", 24 * 3600))
    # Caps on stored exports; 0: no cap. One export (413), a client's live ones (429).
    export_max_bytes: int = field(default_factory=lambda: _int("EXPORT_MAX_BYTES", 128 * 1024 * 1024))
    export_max_per_client: int = field(default_factory=lambda: _int("EXPORT_MAX_PER_CLIENT", 50))
    export_max_bytes_per_client: int = field(
        default_factory=lambda: _int("EXPORT_MAX_BYTES_PER_CLIENT", 512 * 1024 * 1024))
    signing_key: str = field(default_factory=lambda: _str("SIGNING_KEY"))

    # Browser origins allowed to call the API (comma-separated, `*` for any); empty: no CORS headers.
    cors_allowed_origins: list = field(default_factory=lambda: _list("CORS_ALLOWED_ORIGINS", ""))

    log_level: str = field(default_factory=lambda: _str("LOG_LEVEL", "INFO"))
    # Development only: weak secrets are accepted with a warning (app/secret_keys.py).
    chat_engine_dev_mode: bool = field(
        default_factory=lambda: _str("CHAT_ENGINE_DEV_MODE", "0").lower() not in ("0", "false", "no"))

    # The reference web client at / (app/web): on in development mode unless WEB_CLIENT=0, else off unless 1.
    web_client: bool = field(default_factory=lambda: _str(
        "WEB_CLIENT", _str("CHAT_ENGINE_DEV_MODE", "0")).lower() not in ("0", "false", "no"))

    @property
    def session_database_url(self):
        """The URL for what needs a real session (LISTEN, advisory locks, migrations)."""
        return self.database_direct_url or self.database_url

    @property
    def behind_pooler(self):
        return bool(self.database_direct_url) and self.database_direct_url != self.database_url

    @property
    def url_signing_key(self):
        """Signed links must verify on every instance: a shared key, never a random one per process."""
        return export_link_key(self)
