"""app/db.py: the named-query loader, the result shapes it declares, and the reserved pool for final saves."""
import os

import pytest
from psycopg_pool import PoolTimeout

from app.db import SHAPES, SQL_DIR, Database, Queries, after_commit, checks, queries
from support.inprocess import make_config


def write(tmp_path, text, name="q.sql"):
    (tmp_path / name).write_text(text)
    return str(tmp_path)


def test_every_production_query_declares_its_shape_and_checks_are_kept_apart():
    loaded = list(queries)
    assert loaded and all(query.shape in SHAPES for query in loaded)
    names = {query.name for query in loaded}
    assert "tree_violations" not in names and "database_totals" not in names
    assert {query.name for query in checks()} >= {"tree_violations", "database_totals"}
    assert not [f for f in os.listdir(os.path.join(SQL_DIR, "queries")) if "invariant" in f]


def test_a_query_is_its_statement_without_comments_or_semicolon(tmp_path):
    loaded = Queries(write(tmp_path, "-- name: one^\n-- The doc.\nSELECT 1\n  AS n;\n\n"
                                     "-- name: two*\n-- Doc.\nSELECT 2;\n"))
    assert loaded.one.sql == "SELECT 1\n  AS n"
    assert (loaded.one.shape, loaded.two.shape) == ("^", "*")
    with pytest.raises(AttributeError):
        loaded.three  # noqa: B018 - the lookup itself is what is tested


@pytest.mark.parametrize("text, complaint", [
    ("-- name: no_shape\n-- Doc.\nSELECT 1;\n", "result shape"),
    ("-- name: bad?\n-- Doc.\nSELECT 1;\n", "result shape"),
    ("-- name: undocumented^\nSELECT 1;\n", "doc comment"),
    ("-- name: empty^\n-- Doc.\n", "doc comment"),
    ("-- name: twice^\n-- Doc.\nSELECT 1;\n-- name: twice^\n-- Doc.\nSELECT 2;\n", "defined twice"),
])
def test_malformed_files_are_refused_at_load(tmp_path, text, complaint):
    with pytest.raises(ValueError, match=complaint):
        Queries(write(tmp_path, text))


def test_each_shape_returns_what_it_declares(tmp_path, conn):
    loaded = Queries(write(tmp_path, """
-- name: row^
-- One row.
SELECT %(n)s::int AS n, 'x' AS label
-- name: no_row^
-- Nothing.
SELECT 1 AS n WHERE false
-- name: rows*
-- Several rows.
SELECT generate_series(1, %(n)s::int) AS n
-- name: scalar$
-- A value.
SELECT %(n)s::int * 2 AS doubled
-- name: statement!
-- No result.
CREATE TEMPORARY TABLE shape_probe (n int) ON COMMIT DROP
"""))
    assert loaded.row(conn, n=3) == {"n": 3, "label": "x"}
    assert loaded.no_row(conn) is None
    assert loaded.rows(conn, n=3) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert loaded.scalar(conn, n=21) == 42
    assert loaded.statement(conn) is None
    assert conn.execute("SELECT count(*) AS n FROM shape_probe").fetchone() == {"n": 0}


def reserved_database(database_url, reserved_size):
    database = Database(make_config(database_url=database_url, db_pool_min_size=1, db_pool_max_size=1,
                                    db_pool_reserved_size=reserved_size, db_pool_timeout_seconds=0.5))
    database.open()
    return database


def test_a_final_save_gets_a_connection_while_the_main_pool_is_exhausted(database_url):
    database = reserved_database(database_url, reserved_size=1)
    try:
        with database.pool.connection():  # every request connection is taken, as under admission pressure
            with pytest.raises(PoolTimeout):
                with database.transaction():
                    pass
            with database.transaction(reserved=True) as conn:
                assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
    finally:
        database.close()


def test_without_a_reserved_pool_saves_share_the_main_one(database_url):
    database = reserved_database(database_url, reserved_size=0)
    try:
        assert database.reserved is None
        with database.pool.connection():
            with pytest.raises(PoolTimeout):
                with database.transaction(reserved=True):
                    pass
    finally:
        database.close()


def test_a_commit_hook_runs_once_after_its_transaction_commits_and_never_after_a_rollback(database_url):
    database = reserved_database(database_url, reserved_size=0)
    ran = []
    database.commit_hooks["probe"] = lambda: ran.append("probe")
    try:
        with database.transaction() as conn:
            after_commit(conn, "probe")
            after_commit(conn, "probe")
            assert ran == []  # not before the commit
        assert ran == ["probe"]
        with pytest.raises(RuntimeError):
            with database.transaction() as conn:
                after_commit(conn, "probe")
                raise RuntimeError("rolled back")
        with database.transaction():  # the same connection (a pool of one): the rolled back mark is gone
            pass
        assert ran == ["probe"]
    finally:
        database.close()
