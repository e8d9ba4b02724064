"""Prometheus metrics, served at /metrics. Incremented by the intake sink and the pipeline."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FILES_RECEIVED = Counter(
    "renkei_files_received", "Files accepted into the spool, by channel", ["channel"]
)
REFUSED = Counter(
    "renkei_refused", "Deliveries refused at the door, by channel and reason", ["channel", "reason"]
)
# The pipeline's runs only: an undo or a send is the admin's act or an outward one, not
# an import, and counting it would blur an import failure rate.
RUNS = Counter(
    "renkei_runs", "Import runs that reached a state (dry runs too), by state", ["state"]
)
ROWS_IMPORTED = Counter("renkei_rows_imported", "Rows import runs committed (none of a dry run)")
REPORTS_SENT = Counter("renkei_reports_sent", "Report mails the relay accepted")
REPORT_FAILURES = Counter(
    "renkei_report_failures", "Attempts to hand a report to the relay that failed"
)
RELAY_DOWN = Gauge(
    "renkei_report_relay_down",
    "1 while report mail cannot reach the relay (or it refuses renkei): the outbox waits",
)
