"""Domain errors with codes, rendered as RFC 7807 problem+json only at the HTTP edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

from forms.errors import MAX_ISSUES
from gateway.codes import FORBIDDEN, UNAUTHORIZED, Code


@dataclass(frozen=True)
class Issue:
    """One finding inside an error: a rule code or a place in the input, as SDK's eventIssues."""

    code: str
    title: str
    detail: str = ""
    location: str = ""
    # When the problem was found (ISO 8601 UTC), where the API reports it (the SDK API does).
    date_time: str = ""

    def as_event_issue(self) -> dict[str, str]:
        issue = {"typeCode": self.code, "title": self.title, "detail": self.detail}
        if self.location:
            issue["in"] = self.location
        if self.date_time:
            issue["dateTime"] = self.date_time
        return issue


@dataclass
class GatewayError(Exception):
    """The root of every refusal the gateway makes on purpose; `status` is the HTTP status."""

    code: str
    title: str
    detail: str = ""
    status: int = 400
    issues: list[Issue] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # How many faults were found, where more than `issues` lists (a bounded report).
    issue_count: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.code, self.detail or self.title)

    @classmethod
    def at(
        cls,
        code: Code,
        detail: str = "",
        location: str | None = None,
        *,
        status: int = 400,
        issues: list[Issue] | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Self:
        """Return the refusal `code` with its registered Swedish title (gateway.codes).

        `location` names where in the input the fault is (one eventIssue, SDK's `in`).
        """
        if issues is None:
            issues = [] if location is None else [Issue(code.code, code.title, detail, location)]
        return cls(code.code, code.title, detail, status, issues, extra or {}, **fields)

    def __str__(self) -> str:
        text = f"{self.code}: {self.title}"
        if self.detail:
            text += f" ({self.detail})"
        for issue in self.issues:
            text += f"\n  {issue.code}: {issue.title}" + (
                f" [{issue.location}]" if issue.location else ""
            )
        return text

    def problem(self, instance: str) -> dict[str, Any]:
        """Return the RFC 7807 body for this error: at most MAX_ISSUES eventIssues, and
        `eventIssueCount` when more were found than are listed."""
        body: dict[str, Any] = {
            "type": f"urn:kryddgarden:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "instance": instance,
            "eventIssues": [i.as_event_issue() for i in self.issues[:MAX_ISSUES]]
            or [Issue(self.code, self.title, self.detail).as_event_issue()],
        }
        found = max(self.issue_count or 0, len(self.issues))
        if found > len(body["eventIssues"]):
            body["eventIssueCount"] = found
        body.update(self.extra)
        return body


class ConfigError(Exception):
    """A GATEWAY_* setting or the instance folder is unusable; the message names the variable."""


def not_found(what: str, detail: str = "") -> GatewayError:
    return GatewayError("NOT_FOUND", f"{what} finns inte", detail, status=404)


def forbidden(detail: str = "") -> GatewayError:
    return GatewayError.at(FORBIDDEN, detail, status=403)


def unauthorized(detail: str = "") -> GatewayError:
    return GatewayError.at(UNAUTHORIZED, detail, status=401)
