"""app/chat/exports.py against the real database: an unchanged session's export is reused,
exports are capped per export and per client, and expired ones are purged by the workers' sweep."""
from datetime import UTC, datetime

import pytest

from app.auth import Caller
from app.chat import exports, posting, sessions
from app.errors import ApiError
from app.streams.leases import LeaseKeeper
from support.inprocess import make_config


def config(**settings):
    return make_config(**settings)


def post(database, caller, session_id, text, parent_id=None):
    return posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": text}],
                                parent_id=parent_id)


def export_id(url):
    return url.split("/exports/")[1].split("?")[0]


def stored(conn):
    return conn.execute("SELECT count(*) AS n, coalesce(sum(octet_length(body)), 0) AS bytes FROM exports").fetchone()


def refused(call, status, code):
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == status and caught.value.error_code == code, caught.value.message
    return caught.value


def test_exporting_an_unchanged_session_again_returns_the_same_export(database, conn, caller, make_session):
    session_id = make_session()
    root = post(database, caller, session_id, "hello")
    settings = config()
    first, first_expiry = exports.create(database, settings, caller, session_id, "json", "all")
    again, again_expiry = exports.create(database, settings, caller, session_id, "json", "all")
    third, _ = exports.create(database, settings, caller, session_id, "json", "all")
    assert export_id(again) == export_id(first) == export_id(third) and again_expiry >= first_expiry
    assert stored(conn)["n"] == 1  # three exports of an unchanged session store one copy

    # Another format or scope is another export; every change to what an export shows is a new one.
    assert export_id(exports.create(database, settings, caller, session_id, "txt", "all")[0]) != export_id(first)
    assert export_id(exports.create(database, settings, caller, session_id, "json", "active")[0]) \
        != export_id(first)
    changes = [lambda: post(database, caller, session_id, "more"),                                # a new message
               lambda: post(database, caller, session_id, "branch", parent_id=root["id"]),        # a branch
               lambda: sessions.update_metadata(database, caller, session_id, {"title": "Trip"})]  # the title
    seen = {export_id(first)}
    for change in changes:
        change()
        url, _ = exports.create(database, settings, caller, session_id, "json", "all")
        assert export_id(url) not in seen
        seen.add(export_id(url))
        assert export_id(exports.create(database, settings, caller, session_id, "json", "all")[0]) == export_id(url)


def test_an_export_over_its_size_cap_is_413_and_stores_nothing(database, conn, caller, make_session):
    session_id = make_session()
    post(database, caller, session_id, "x" * 5000)
    refused(lambda: exports.create(database, config(export_max_bytes=4096), caller, session_id, "txt", "all"),
            413, "INVALID_REQUEST")
    assert stored(conn)["n"] == 0
    assert exports.create(database, config(export_max_bytes=64 * 1024), caller, session_id, "txt", "all")


def test_a_client_at_its_export_count_cap_is_429_until_one_expires(database, conn, caller, make_session):
    settings = config(export_max_per_client=2)
    session_ids = [make_session() for _ in range(3)]
    for session_id in session_ids:
        post(database, caller, session_id, "hello")
    urls = [exports.create(database, settings, caller, s, "txt", "all")[0] for s in session_ids[:2]]
    error = refused(lambda: exports.create(database, settings, caller, session_ids[2], "txt", "all"),
                    429, "RATE_LIMIT_EXCEEDED")
    assert error.details["limit_type"] == "concurrent" and int(error.headers["Retry-After"]) >= 1
    assert datetime.fromisoformat(error.details["quota_reset_at"]) > datetime.now(UTC)
    assert stored(conn)["n"] == 2
    # Reusing an unchanged export adds nothing, so it is never refused; other clients have their own caps.
    # (the same export: its link differs only when the renewed expiry fell in the next second)
    assert export_id(exports.create(database, settings, caller, session_ids[0], "txt", "all")[0]) == export_id(urls[0])
    bob = Caller(client_id="bob", is_admin=False)
    post(database, bob, bobs := make_session(client_id="bob"), "hi")
    assert exports.create(database, settings, bob, bobs, "txt", "all")

    conn.execute("UPDATE exports SET expires_at = now() - interval '1 second' WHERE id = %s", (export_id(urls[0]),))
    assert exports.create(database, settings, caller, session_ids[2], "txt", "all")


def test_a_client_over_its_export_bytes_cap_is_429(database, conn, caller, make_session):
    first, second = make_session(), make_session()
    post(database, caller, first, "a" * 3000)
    post(database, caller, second, "b" * 3000)
    settings = config(export_max_bytes_per_client=5000)
    exports.create(database, settings, caller, first, "txt", "all")
    refused(lambda: exports.create(database, settings, caller, second, "txt", "all"), 429, "RATE_LIMIT_EXCEEDED")
    assert stored(conn)["n"] == 1
    # One that could never fit, even alone, is 413: waiting would not help.
    post(database, caller, second, "c" * 6000)
    refused(lambda: exports.create(database, settings, caller, second, "txt", "all"), 413, "INVALID_REQUEST")


def expired_exports(database, conn, caller, make_session, count):
    """`count` more exports, and every export's link expired but the ones already there."""
    before = [r["id"] for r in conn.execute("SELECT id FROM exports").fetchall()]
    for _ in range(count):
        session_id = make_session()
        post(database, caller, session_id, "hello")
        exports.create(database, config(), caller, session_id, "txt", "all")
    conn.execute("UPDATE exports SET expires_at = now() - interval '1 minute' WHERE id <> ALL(%s)", (before,))


def test_the_workers_sweep_purges_expired_exports(database, conn, caller, make_session):
    live_session = make_session()
    post(database, caller, live_session, "still wanted")
    live = exports.create(database, config(), caller, live_session, "txt", "all")[0]
    expired_exports(database, conn, caller, make_session, 2)  # and no export is stored after them

    LeaseKeeper(database, config(lease_seconds=20)).sweep()  # what every worker runs on its schedule
    assert [r["id"] for r in conn.execute("SELECT id::text FROM exports").fetchall()] == [export_id(live)]


def test_the_purge_deletes_bounded_batches(database, conn, caller, make_session):
    expired_exports(database, conn, caller, make_session, 4)
    assert exports.purge_expired(database, limit=1) == 1
    assert exports.purge_expired(database, limit=10, max_bytes=1) == 1  # the byte bound, but always one
    assert exports.purge_expired(database) == 2
    assert exports.purge_expired(database) == 0 and stored(conn)["n"] == 0
