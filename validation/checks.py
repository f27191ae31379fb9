"""What the gate measures and what it decides: `Measurement` in, `CheckResult` out.

Measuring and deciding are separate (as Opacus' accountants measure ε and
leave the budget decision to the caller). A measuring function returns
`Measurement`s: the figure, its threshold and the threshold's direction. It
never compares the two. `validation.expectations.GXSession.judge` is the one
place that turns measurements into verdicts, through Great Expectations, for
tables and images alike; a `CheckResult` is such a verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

#: Which side of its threshold a gated figure must stay on: "min", a floor (value >= threshold), or "max",
#: a ceiling (value <= threshold). Both ends are allowed; a figure that could not be measured (None) fails.
Bound = Literal["min", "max"]
_WORDS = {"min": "at least", "max": "at most"}
REPORT_ONLY = "report only"


@dataclass(frozen=True)
class Measurement:
    """One figure the gate measured, not yet judged.

    `bound` is the direction of `threshold`, defined here, once, for every
    check; None marks a figure that is reported and never gates publishing
    (its threshold reads "report only"). `value` None means the figure could
    not be measured: a gated one then fails. `detail` is one line a person
    can read, kept whatever the verdict.
    """

    suite: str  # "fidelity" | "privacy" | "utility" | "schema"
    name: str  # short, stable identifier, e.g. "quality_score"; a column of GX's one-row table
    value: float | None
    threshold: float | str
    bound: Bound | None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.bound is None:
            return
        if self.bound not in _WORDS:
            raise ValueError(f"measurement {self.name}: bound {self.bound!r} is not one of 'min', 'max' or None")
        numeric = isinstance(self.threshold, (int, float)) and not isinstance(self.threshold, bool)
        if not numeric or math.isnan(self.threshold):
            raise ValueError(
                f"measurement {self.name}: a gated figure needs a numeric threshold, got {self.threshold!r}")

    @classmethod
    def reported(cls, suite: str, name: str, value: float | None, detail: str = "") -> Measurement:
        """A figure shown beside the gated ones (a floor, a ceiling, a baseline) that never blocks publishing."""
        return cls(suite, name, value, REPORT_ONLY, None, detail)

    @property
    def required(self) -> bool:
        return self.bound is not None


@dataclass(frozen=True)
class CheckResult:
    """One verdict of the publishing gate.

    `value` is what was observed and `threshold` what was required, both
    JSON-serialisable, so the card can show them side by side; `bound` says
    which side of the threshold passes ("min", "max"; None where the
    threshold says it itself, as a schema check's range does). A check with
    `required=False` is reported but never blocks publishing.
    """

    suite: str  # "schema" | "fidelity" | "privacy" | ...
    name: str  # short, stable identifier, e.g. "range:age" or "quality_score"
    passed: bool
    value: Any
    threshold: Any
    detail: str = ""  # one line a person can read
    required: bool = True
    bound: Bound | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def requirement(self) -> str:
        """The threshold as a person reads it: "at least 0.8", "at most 0.6", or the threshold itself."""
        word = _WORDS.get(self.bound or "")
        return f"{word} {self.threshold}" if word else str(self.threshold)

    def one_line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        word = _WORDS.get(self.bound or "")
        required = f"{word} {self.threshold!r}" if word else repr(self.threshold)
        line = f"[{status}] {self.suite}/{self.name}: observed {self.value!r}, required {required}"
        return f"{line} ({self.detail})" if self.detail else line


def failed(results: list[CheckResult]) -> list[CheckResult]:
    """The required checks that did not pass."""
    return [r for r in results if r.required and not r.passed]
