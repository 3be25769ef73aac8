"""app/db.py: the named-query loader and the result shapes it declares."""
import os

import pytest

from app.db import SHAPES, SQL_DIR, Queries, checks, queries


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
