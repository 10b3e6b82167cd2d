"""SigningError: the one root of the errors the signing library raises on purpose, with a
machine-readable `code` (pyHanko's several unrelated bases are the counter-example)."""

from __future__ import annotations


class SigningError(Exception):
    """Something the library could not evaluate or do; `code` says which kind, for machines,
    and the message what and why, for people. Each kind below sets its own code."""

    code: str = "SIGNING"


class CheckFailed(SigningError):
    """A check that failed, named per instance: `code` says which check, `detail` how."""

    code = "CHECK"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
