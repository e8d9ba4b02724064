"""The store: every SQL statement renkei runs, and nothing else.

    sqlite.py      SqliteStore: connections, transactions (the runs and tables mixins)
    schema.py      renkei's own tables and their migrations
    runs.py        the run history, run states, a run as JSON
    tables.py      layout tables: rows, same-name replace, staged copies, choices
    keyed.py       upsert, delete and set, by the layout's key
    undo.py        undo: taking a run back, what is kept for it (images.py: before-images)
    multirow.py    multi-row INSERT statements
    scratch.py     a reader process's scratch database for one part of a large file
    sql.py         quoting

Kept free of imports so a reader process can load scratch.py without the rest.
"""
