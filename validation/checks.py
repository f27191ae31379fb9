"""The one result type every check in the gate produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """One check of the publishing gate.

    `value` is what was observed and `threshold` what was required, both
    JSON-serialisable, so the card can show them side by side. A check with
    `required=False` is reported but never blocks publishing.
    """

    suite: str  # "schema" | "fidelity" | "privacy" | ...
    name: str  # short, stable identifier, e.g. "range:age" or "quality_score"
    passed: bool
    value: Any
    threshold: Any
    detail: str = ""  # one line a person can read
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def one_line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        line = f"[{status}] {self.suite}/{self.name}: observed {self.value!r}, required {self.threshold!r}"
        return f"{line} ({self.detail})" if self.detail else line


def failed(results: list[CheckResult]) -> list[CheckResult]:
    """The required checks that did not pass."""
    return [r for r in results if r.required and not r.passed]
