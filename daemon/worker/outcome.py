"""What one run came to, as the pipeline records it: state, counts, errors, message."""

from __future__ import annotations

from dataclasses import dataclass, field

from daemon.store.keyed import Counts
from daemon.store.runs import ERRORS_KEPT, RunState
from daemon.worker.error_report import ErrorReport
from daemon.worker.plan import Plan
from importers.errors import RowError
from importers.messages import Words


@dataclass(slots=True)
class Outcome:
    state: RunState
    message: str = ""
    encoding: str = ""
    total: int = 0
    failed: int = 0
    empty: int = 0  # lines of empty cells, read past (not in `total`)
    replaced: int = 0  # rows an earlier file of the same name imported, removed by this
    errors: list[RowError] = field(default_factory=list)
    report: ErrorReport | None = None
    problem: str = ""  # the catalog key of a whole-file problem, for edges that map it
    plan: Plan | None = None
    counts: Counts = field(default_factory=Counts)
    # The message as catalog words, for the console to say in its viewer's language;
    # empty for a message made without them (then shown as it was written).
    said: Words | None = None

    def say(self, words: Words, language: str) -> None:
        """Make `words`, said in `language`, the run's message."""
        self.message = words.say(language)
        self.said = words

    @property
    def imported(self) -> int:
        """Rows of the file that changed the table (or, in a dry run, would have):
        not those in error, those an upsert left alone, nor those whose key was not
        found."""
        if self.state != RunState.COMPLETED:
            return 0
        return self.total - self.failed - self.counts.skipped - self.counts.not_found

    def keep_errors(self, errors: list[RowError]) -> None:
        """The first ERRORS_KEPT go into the run's record; the error CSV takes them all."""
        if errors:
            room = ERRORS_KEPT - len(self.errors)
            self.errors.extend(errors[:room])
            if self.report is not None:
                self.report.add(errors)

    @classmethod
    def saying(cls, state: RunState, words: Words, language: str) -> Outcome:
        """A run that ends before its file is read, with `words` for its message."""
        outcome = cls(state)
        outcome.say(words, language)
        return outcome

    @classmethod
    def failure(cls, words: Words, language: str) -> Outcome:
        """A run that fails before its file is read: its message, and the one error
        its error CSV and report name."""
        outcome = cls.saying(RunState.FAILED, words, language)
        outcome.errors = [RowError(0, "", "", outcome.message, None, words)]
        return outcome
