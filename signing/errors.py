"""SigningError: the one root of the errors the signing library raises on purpose, with a
machine-readable `code` (pyHanko's several unrelated bases are the counter-example)."""

from __future__ import annotations


class SigningError(Exception):
    """Something the library could not evaluate or do; `code` says which kind, for machines,
    and the message what and why, for people. Each kind below sets its own code."""

    code: str = "SIGNING"
