"""The test suite's own PostgreSQL server (tests/postgres.py), driven with psycopg 3.

Skips with the reason when no server binary is found (fails under CI=true).
"""

from __future__ import annotations

import psycopg

ROWS = 10_000


def test_copy_loads_rows(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (a integer NOT NULL, b text NOT NULL)")
        with conn.cursor() as cur:
            with cur.copy("COPY t (a, b) FROM STDIN") as copy:
                for i in range(ROWS):
                    copy.write_row((i, f"row {i}"))
            cur.execute("SELECT count(*), sum(a), max(b) FROM t")
            assert cur.fetchone() == (ROWS, ROWS * (ROWS - 1) // 2, "row 9999")


def test_databases_are_independent(pg_url, postgresql_proc):
    from tests.postgres import database_url

    other_urls = database_url(postgresql_proc)
    other_url = next(other_urls)
    try:
        assert other_url != pg_url
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (a integer)")
            conn.execute("INSERT INTO t VALUES (1)")
        with psycopg.connect(other_url, autocommit=True) as conn:
            found = conn.execute("SELECT to_regclass('public.t')").fetchone()
            assert found == (None,)
            conn.execute("CREATE TABLE t (a integer)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        other_urls.close()
