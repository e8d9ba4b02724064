"""One measured figure of `make bench`: what was measured against which reference,
the ratio of their medians over interleaved rounds, and whether it meets its target."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True, slots=True)
class Figure:
    what: str  # e.g. "HTTP 300 KB, 10 clients"
    reference: str  # e.g. "bare FastAPI + fsync"
    ours: list[float]  # one value per round, in `unit`
    theirs: list[float]
    unit: str  # e.g. "files/s", "s", "ms"
    target: float  # the ratio to meet
    higher_is_better: bool = True  # throughput: ours/theirs ≥ target; times: ≤ target

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios, ours against theirs."""
        return median(o / t for o, t in zip(self.ours, self.theirs, strict=True) if t)

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def line(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        verdict = "ok" if self.met else "MISSED"
        return (
            f"{self.what:<40} renkei {median(self.ours):9.2f} {self.unit:<8}"
            f" {self.reference:<28} {median(self.theirs):9.2f}   "
            f"{self.ratio:5.2f}x (target {sign} {self.target}x) {verdict}"
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """A figure held to an absolute bound (an event-loop lag in ms, say)."""

    what: str
    values: list[float]  # one per round
    unit: str
    limit: float

    @property
    def value(self) -> float:
        return median(self.values)

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        verdict = "ok" if self.met else "MISSED"
        return (
            f"{self.what:<40} renkei {self.value:9.1f} {self.unit:<8}"
            f" (limit ≤ {self.limit:g} {self.unit}) {verdict}"
        )


def report(figures: list[Figure | Limit]) -> bool:
    """Print every figure; True when all meet their targets."""
    for figure in figures:
        print(figure.line(), flush=True)
    return all(f.met for f in figures)
