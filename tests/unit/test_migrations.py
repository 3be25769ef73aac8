"""app/migrations.py against the real database: migrations once each, SQL functions from their one source
(sql/functions) on every upgrade."""
import psycopg

from app import migrations


def function_body(conn, name):
    return conn.execute("SELECT pg_get_functiondef(%s::regproc)", (name,)).fetchone()[0]


def test_every_upgrade_applies_the_functions_as_sql_functions_spells_them(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        written = function_body(conn, "notify_reply")
        conn.execute("CREATE OR REPLACE FUNCTION notify_reply(message_id uuid, kind text) RETURNS void "
                     "LANGUAGE sql VOLATILE AS $$ SELECT pg_notify('elsewhere', kind) $$")
        assert "elsewhere" in function_body(conn, "notify_reply")
        assert migrations.upgrade(database_url) == []  # no migration left to apply: the functions still are
        assert function_body(conn, "notify_reply") == written
        for filename in migrations.functions():  # every file defines what it says, and nothing is left over
            assert "CREATE OR REPLACE FUNCTION" in open(f"{migrations.FUNCTIONS_DIR}/{filename}").read()


def test_the_wake_up_channel_is_the_one_notify_reply_uses(database_url):
    with psycopg.connect(database_url, autocommit=True) as listener, \
            psycopg.connect(database_url, autocommit=True) as sender:
        channel = listener.execute("SELECT reply_channel()").fetchone()[0]
        listener.execute(f"LISTEN {channel}")
        sender.execute("SELECT notify_reply('00000000-0000-0000-0000-000000000001', 'end')")
        heard = next(listener.notifies(timeout=10))
        assert (heard.channel, heard.payload) == (channel, "00000000-0000-0000-0000-000000000001:end")


def test_live_rows_have_no_lease_index_and_one_key_to_their_message_of_their_session(database_url):
    """The sweep's lookup never used live_replies_by_lease (migration 016); since 026 a live row's one foreign key
    names its message in its session, and its primary key leads with the session (no index by session of its
    own)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        indexes = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'live_replies'")}
        keys = {row[0] for row in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'live_replies'::regclass AND contype = 'f' "
            "AND conparentid = 0")}
    assert "live_replies_by_lease" not in indexes and "live_replies_by_session" not in indexes
    assert keys == {"live_replies_message_fkey"}
