"""The workers' owner locks as PostgreSQL shows them (advisory locks of class OWNER_LOCK_CLASS, app/db.py)."""
from psycopg.rows import tuple_row

from app.db import OWNER_LOCK_CLASS

HELD = "l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.granted"


def holders(conn, key):
    """How many sessions hold the worker `key`'s lock now."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        return cursor.execute("SELECT count(*) FROM pg_locks l WHERE " + HELD, (OWNER_LOCK_CLASS, key)).fetchone()[0]


def holder_ports(conn, key):
    """The client ports of the sessions holding it (which connection holds it: through a proxy or not)."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is read once per transaction
        rows = cursor.execute("SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                              "WHERE " + HELD, (OWNER_LOCK_CLASS, key)).fetchall()
    return {port for (port,) in rows}
