"""The PostgreSQL store, for several renkei instances on one database.

connection.py  a psycopg 3 session that speaks to the mixins as aiosqlite does
schema.py      the same migrations as SQLite's, under an advisory lock
tables.py      layout tables: created with a `rowid`, rows loaded by COPY
store.py       PostgresStore: sessions, transactions, locks between instances
"""
