"""One shape for the verdict of a rule (consent rules C1–C7, answer rules P1–P9) and of a report
of them: raw results frozen, the verdict derived (pyHanko's shape)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class RuleStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    # Not checked because an earlier finding made it impossible (e.g. no PDF, no signature).
    NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True)
class RuleResult:
    """The verdict on one rule: code, status, a Swedish message, a technical detail, and where
    in the input the rule looked (`path`, `line`), when it looked at one place."""

    code: str
    status: RuleStatus
    message: str
    detail: str = ""
    path: str = ""
    line: int | None = None

    @property
    def passed(self) -> bool:
        return self.status is RuleStatus.PASSED

    @property
    def failed(self) -> bool:
        return self.status is RuleStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data; the place only when there is one."""
        data: dict[str, Any] = {"code": self.code, "status": self.status.value,
                                "message": self.message, "detail": self.detail}
        if self.path:
            data["path"] = self.path
        if self.line is not None:
            data["line"] = self.line
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleResult:
        """Return the result `to_dict` made; raise KeyError or ValueError if it is not one."""
        return cls(data["code"], RuleStatus(data["status"]), data["message"], data["detail"],
                   data.get("path", ""), data.get("line"))


def passed(code: str, message: str, detail: str = "") -> RuleResult:
    return RuleResult(code, RuleStatus.PASSED, message, detail)


def failed(code: str, message: str, detail: str = "") -> RuleResult:
    return RuleResult(code, RuleStatus.FAILED, message, detail)


def not_evaluated(code: str, message: str, detail: str = "") -> RuleResult:
    return RuleResult(code, RuleStatus.NOT_EVALUATED, message, detail)


class RuleReport:
    """What every report of rule results offers; mixed into frozen dataclasses with `results`.

    `ok` here means every rule checked passed; a report that must also have checked a given
    set of rules says so in its own `ok`.
    """

    results: tuple[RuleResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if result.failed)

    @property
    def failed_codes(self) -> tuple[str, ...]:
        """Codes of the rules that failed, in order, e.g. ("P2", "P8")."""
        return tuple(result.code for result in self.failed)

    def result(self, code: str) -> RuleResult:
        """Return the result of rule `code`; raise KeyError if it was not checked."""
        for result in self.results:
            if result.code == code:
                return result
        raise KeyError(code)
