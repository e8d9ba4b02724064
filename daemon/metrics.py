"""Prometheus metrics, served at /metrics. Incremented by the intake sink and the pipeline.

Each metric is made at its first use: prometheus_client loads an HTTP server and its
parsers with it (40 ms of every `renkei import`, which serves no metrics). `make_all()`
makes them for the /metrics page, so that one never used yet reads 0 there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

_MADE = threading.Lock()  # two threads' first uses would register one name twice


class _Later:
    """A metric made when it is first used: attributes go to the made one."""

    __slots__ = ("_make", "_metric")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._metric: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)

    def made(self) -> Any:
        if self._metric is None:
            with _MADE:
                if self._metric is None:
                    self._metric = self._make()
        return self._metric


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Any:
    def make() -> Any:
        from prometheus_client import Counter

        return Counter(name, documentation, labels)

    return _Later(make)


def _gauge(name: str, documentation: str) -> Any:
    def make() -> Any:
        from prometheus_client import Gauge

        return Gauge(name, documentation)

    return _Later(make)


FILES_RECEIVED = _counter(
    "renkei_files_received", "Files accepted into the spool, by channel", ["channel"]
)
REFUSED = _counter(
    "renkei_refused", "Deliveries refused at the door, by channel and reason", ["channel", "reason"]
)
# The pipeline's runs only: an undo or a send is the admin's act or an outward one, not
# an import, and counting it would blur an import failure rate.
RUNS = _counter(
    "renkei_runs", "Import runs that reached a state (dry runs too), by state", ["state"]
)
ROWS_IMPORTED = _counter("renkei_rows_imported", "Rows import runs committed (none of a dry run)")
REPORTS_SENT = _counter("renkei_reports_sent", "Report mails the relay accepted")
REPORT_FAILURES = _counter(
    "renkei_report_failures", "Attempts to hand a report to the relay that failed"
)
RELAY_DOWN = _gauge(
    "renkei_report_relay_down",
    "1 while report mail cannot reach the relay (or it refuses renkei): the outbox waits",
)
_ALL = (FILES_RECEIVED, REFUSED, RUNS, ROWS_IMPORTED, REPORTS_SENT, REPORT_FAILURES, RELAY_DOWN)


def make_all() -> None:
    for metric in _ALL:
        metric.made()
