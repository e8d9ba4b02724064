"""What one run came to, as the pipeline records it: state, counts, errors, message."""

from __future__ import annotations

from dataclasses import dataclass, field

from daemon.store.keyed import Counts
from daemon.store.runs import ERRORS_KEPT, RunState
from daemon.worker.error_report import ErrorReport
from daemon.worker.plan import Plan
from importers.errors import RowError


@dataclass(slots=True)
class Outcome:
    state: RunState
    message: str = ""
    encoding: str = ""
    total: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    report: ErrorReport | None = None
    problem: str = ""  # the catalog key of a whole-file problem, for edges that map it
    plan: Plan | None = None
    counts: Counts = field(default_factory=Counts)

    @property
    def imported(self) -> int:
        """Rows written (or, in a dry run, that would have been)."""
        return self.total - self.failed if self.state == RunState.COMPLETED else 0

    def keep_errors(self, errors: list[RowError]) -> None:
        """The first ERRORS_KEPT go into the run's record; the error CSV takes them all."""
        if errors:
            room = ERRORS_KEPT - len(self.errors)
            self.errors.extend(errors[:room])
            if self.report is not None:
                self.report.add(errors)

    @classmethod
    def failure(cls, text: str) -> Outcome:
        return cls(RunState.FAILED, text, errors=[RowError(0, "", "", text)])
