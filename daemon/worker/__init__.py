"""The worker: the spool's one consumer, which turns each spooled file into a run.

    consumer.py      the loop that claims waiting items (the daemon's "qmgr")
    pipeline.py      one item → one committed run: the run's books
    plan.py          what a run does: mode, layout, columns, encoding, header
    writer.py        the rows and the run's final record, in one transaction
    references.py    reference columns, checked per chunk
    staging.py       large files read in parts by reader processes …
    partreader.py    … each of which is `python -m daemon.worker.partreader` …
    readers.py       … kept between files
    error_report.py  the run's error CSV
    ownfolders.py    whether an error is trouble of renkei's own folders (of the moment)
    outcome.py       what a run came to

Kept free of imports so a reader process loads only what it needs.
"""
