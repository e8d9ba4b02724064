"""The store: every SQL statement renkei runs, and nothing else.

    base.py        Store: the contract every store meets (the mixins below, together)
    open.py        which store a config asks for (errors.py: when it cannot be opened)
    sqlite.py      SqliteStore: connections, transactions (the embedded default)
    postgres/      PostgresStore: one database for several instances
    schema.py      renkei's own tables and their migrations
    runs.py        the run history, run states, a run as JSON
    tables.py      layout tables: rows, same-name replace, staged copies, choices
    keyed.py       upsert, delete and set, by the layout's key
    undo.py        undo: taking a run back, what is kept for it (images.py: before-images)
    multirow.py    multi-row INSERT statements
    scratch.py     a reader process's scratch database for one part of a large file
    slots.py       schedule slots: one instance runs each scheduled tick
    sql.py         quoting

Kept free of imports so a reader process can load scratch.py without the rest.
"""
