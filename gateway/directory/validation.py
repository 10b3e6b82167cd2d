"""Reading a directory file: JSON syntax, then every entry's fields, each error with its JSON path.

This is the first stage of an import and needs no database: it turns the parsed JSON into
`Entry` objects holding the fields given (normalised) and collects every problem it finds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from gateway.directory import identifiers as ids
from gateway.directory.models import AssignmentRole, SenderKind
from gateway.directory.service import KEYS, SECTIONS, Key
from gateway.errors import Issue

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PEM_CHARS = 20_000
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Control characters break PostgreSQL (NUL) and terminals; multi-line fields may keep newlines.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Check = Callable[[Any], tuple[Any, str | None]]


class Problems:
    """Collects every problem found, each with the JSON path it concerns."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, message: str, code: str = "INVALID_VALUE") -> None:
        self.issues.append(Issue(code=code, title=message, location=path))

    def __bool__(self) -> bool:
        return bool(self.issues)


def json_type(value: Any) -> str:
    """Name a JSON value's type the way a person editing the file would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    return "an object"


def shorten(name: str, limit: int = 60) -> str:
    """Return a key from the file short enough to quote in a message."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateKey(name)
        result[name] = value
    return result


def parse_json(raw: bytes | str, problems: Problems) -> Any:
    """Return the parsed document, or None after adding why it could not be read."""
    if len(raw) > MAX_FILE_BYTES:
        problems.add("", f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", "TOO_LARGE")
        return None
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.add(f"byte {exc.start}", "not UTF-8 text", "JSON_SYNTAX")
            return None
    try:
        return json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        problems.add(
            f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}", "JSON_SYNTAX"
        )
    except _DuplicateKey as exc:
        problems.add(
            "", f"the key {shorten(str(exc))!r} appears twice in one object", "JSON_SYNTAX"
        )
    except RecursionError:
        problems.add("", "JSON nested too deeply", "JSON_SYNTAX")
    return None


def text(max_len: int, *, multiline: bool = False, allow_empty: bool = False) -> Check:
    """A text check: trimmed, bounded, no control characters (newlines only where multiline)."""
    forbidden = CONTROL_MULTILINE if multiline else CONTROL

    def check(value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, str):
            return None, f"expected text, got {json_type(value)}"
        value = value.strip()
        if not value and not allow_empty:
            return None, "must not be empty"
        if len(value) > max_len:
            return None, f"longer than {max_len} characters"
        if forbidden.search(value):
            return None, "contains control characters"
        return value, None

    return check


def identifier(max_len: int, rule: Callable[[str], str | None]) -> Check:
    base = text(max_len + 10)

    def check(value: Any) -> tuple[Any, str | None]:
        value, error = base(value)
        return (None, error) if error else (value, rule(value))

    return check


def boolean(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    return None, f"expected true or false, got {json_type(value)}"


def date(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, f"expected a date YYYY-MM-DD, got {json_type(value)}"
    try:
        if not DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value).isoformat(), None
    except ValueError:
        return None, f"not a date YYYY-MM-DD ({value[:40]!r})"


def one_of(*values: str) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if isinstance(value, str) and value in values:
            return value, None
        shown = repr(value[:40]) if isinstance(value, str) else json_type(value)
        return None, f"must be {' or '.join(values)}, got {shown}"

    return check


def url(value: Any) -> tuple[Any, str | None]:
    value, error = text(500)(value)
    if error:
        return None, error
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None, f"not an http(s) URL ({value[:60]!r})"
    return value, None


def pem_certificate(value: Any) -> tuple[Any, str | None]:
    value, error = text(MAX_PEM_CHARS, multiline=True)(value)
    if error:
        return None, error
    try:
        x509.load_pem_x509_certificate(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None, "not a PEM certificate"
    return value.replace("\r\n", "\n") + "\n", None


def fingerprints(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, list):
        return None, f"expected an array of SHA-256 fingerprints, got {json_type(value)}"
    result: list[str] = []
    for index, item in enumerate(value):
        normal = ids.normalise_fingerprint(item) if isinstance(item, str) else None
        if normal is None:
            return None, f"item {index} is not a SHA-256 fingerprint (64 hex digits)"
        if normal in result:
            return None, f"item {index} repeats a fingerprint"
        result.append(normal)
    return sorted(result), None


@dataclass(frozen=True)
class Field:
    """One key of an entry: how to check it, whether it must be there, may be null, its default."""

    check: Check
    required: bool = False
    nullable: bool = False
    default: Any = None


HSA = identifier(31, ids.check_hsa_id)
ORG = identifier(100, ids.check_org_id)
EMAIL = identifier(254, ids.check_email)
PHONE = identifier(40, ids.check_phone)
ADDRESS = text(ids.ADDRESS_MAX)
NAME = text(200)

SPECS: dict[str, dict[str, Field]] = {
    "organisations": {
        "id": Field(ORG, required=True),
        "name": Field(NAME, required=True),
        "endpoint": Field(url, nullable=True),
        "signing_certificate": Field(pem_certificate, nullable=True),
        "encryption_certificate": Field(pem_certificate, nullable=True),
    },
    "functional_addresses": {
        "address": Field(ADDRESS, required=True),
        "organisation": Field(ORG),
        "label": Field(text(200, allow_empty=True), default=""),
    },
    "care_units": {
        "hsa_id": Field(HSA, required=True),
        "name": Field(NAME, required=True),
        "organisation": Field(ORG, required=True),
        "connected": Field(boolean, default=True),
        "functional_address": Field(ADDRESS, nullable=True),
        "manager_email": Field(EMAIL, nullable=True),
        "contact": Field(text(500, multiline=True), nullable=True),
    },
    "coordinators": {
        "hsa_id": Field(HSA, required=True),
        "name": Field(NAME, required=True),
        "email": Field(EMAIL, required=True),
        "phone": Field(PHONE, nullable=True),
        "certificate_fingerprints": Field(fingerprints, default=[]),
    },
    "sender_units": {
        "name": Field(NAME, required=True),
        "organisation": Field(ORG, required=True),
        "kind": Field(one_of(*(k.value for k in SenderKind)), required=True),
        "functional_address": Field(ADDRESS, required=True),
    },
    "assignments": {
        "coordinator": Field(HSA, required=True),
        "care_unit": Field(HSA, required=True),
        "role": Field(one_of(*(r.value for r in AssignmentRole)), required=True),
        "valid_from": Field(date, required=True),
        "valid_to": Field(date, nullable=True),
    },
    "absences": {
        "coordinator": Field(HSA, required=True),
        "starts_on": Field(date, required=True),
        "ends_on": Field(date, required=True),
        "note": Field(text(200, allow_empty=True), default=""),
    },
}


def defaults(section: str) -> dict[str, Any]:
    """Return a new entity's record before the file's fields are laid over it."""
    return {name: spec.default for name, spec in SPECS[section].items()}


@dataclass
class Entry:
    """One entry of the file: where it is, the fields it gives (checked) and its natural key."""

    section: str
    index: int
    given: dict[str, Any] = field(default_factory=dict)
    key: Key | None = None

    @property
    def path(self) -> str:
        return f"{self.section}[{self.index}]"

    def at(self, name: str) -> str:
        return f"{self.path}.{name}"


def read_entry(section: str, index: int, raw: Any, problems: Problems) -> Entry:
    """Check one entry's fields; the key is set only when every key field is valid."""
    entry = Entry(section, index)
    if not isinstance(raw, dict):
        problems.add(entry.path, f"expected an object, got {json_type(raw)}", "WRONG_TYPE")
        return entry
    specs = SPECS[section]
    for name in raw:
        if name not in specs:
            problems.add(entry.at(shorten(name)), "unknown key", "UNKNOWN_KEY")
    for name, spec in specs.items():
        if name not in raw:
            if spec.required:
                problems.add(entry.at(name), "missing", "MISSING")
            continue
        value = raw[name]
        if value is None:
            if spec.nullable:
                entry.given[name] = None
            else:
                problems.add(entry.at(name), "must not be null", "MISSING")
            continue
        checked, error = spec.check(value)
        if error:
            problems.add(entry.at(name), error)
        else:
            entry.given[name] = checked
    if all(name in entry.given for name in KEYS[section]):
        entry.key = tuple(str(entry.given[name]) for name in KEYS[section])
    return entry


def read_document(document: Any, problems: Problems) -> list[Entry]:
    """Check the document's shape and every entry; return the entries in section order."""
    if not isinstance(document, dict):
        problems.add(
            "",
            f"expected a JSON object with the directory's sections, got {json_type(document)}",
            "WRONG_TYPE",
        )
        return []
    for name in document:
        if name not in SECTIONS:
            problems.add(
                shorten(name), f"unknown section (known: {', '.join(SECTIONS)})", "UNKNOWN_KEY"
            )
    entries: list[Entry] = []
    for section in SECTIONS:
        items = document.get(section, [])
        if not isinstance(items, list):
            problems.add(section, f"expected an array, got {json_type(items)}", "WRONG_TYPE")
            continue
        entries.extend(read_entry(section, i, raw, problems) for i, raw in enumerate(items))
    return entries
