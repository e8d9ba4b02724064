"""The spool: the durable queue between the doors and the worker.

queue.py    spooled files: tmp → fsync → rename, claims, recovery, quarantine
packed.py   the one file a delivery waits in: its data, then its meta
sink.py     the daemon's side of the intake contract (handlers/base.py)
memory.py   the one memory of deliveries, which answers a resend with its runs
refusals.py what the doors refused: logged, counted, the latest kept in memory
kept.py     where a finished run's file is kept until retention ends
retry.py    a run's kept file spooled again as a new run (`retry_of`)
durable.py  write, fsync, rename
"""
