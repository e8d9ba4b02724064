"""Linkage the other way: rows sent onward as CSV (sends) and HTTP calls per row or run
(calls), each request built and spooled durably before its first attempt and delivered
with retries.

fill.py fills placeholders; csvparts.py turns rows into CSV requests within the limits;
jobs.py keeps the requests of a job on disk until they are answered; deliver.py sends
them; sends.py and calls.py build a job from the config; triggers.py starts sends and
calls after imports and on schedules.
"""
