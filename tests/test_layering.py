"""The import layers (DESIGN 4), read from the source: `forms` and `signing` use nothing of Flask,
the database, `gateway` or each other; `common` nothing of the project; the platform
(`gateway/audit`, `vault`, `jobs`) no domain. Imports inside functions count too."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("flask", "flask_login", "flask_wtf", "wtforms", "sqlalchemy", "alembic", "psycopg")
# What the platform may use inside `gateway`: the app's plumbing and the other platform parts.
PLATFORM = ("audit", "vault", "jobs", "health")
PLUMBING = ("db", "errors", "config", "types", "clitools", "codes", "clock")


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for every import in the file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _top(module: str) -> str:
    return module.split(".")[0]


def library_violation(package: str, module: str) -> bool:
    others = {"forms": ("signing",), "signing": ("forms",), "common": ("forms", "signing")}
    return _top(module) in (*FRAMEWORKS, "gateway", *others[package])


def platform_violation(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "gateway" or len(parts) == 1:
        return False
    return parts[1] not in (*PLATFORM, *PLUMBING)


def violations(folder: str, broken: Callable[[str], bool]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imported(path):
            if broken(module):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", ["forms", "signing", "common"])
def test_libraries_import_no_framework_no_gateway_and_not_each_other(package: str) -> None:
    assert violations(package, lambda module: library_violation(package, module)) == []


@pytest.mark.parametrize("part", PLATFORM[:3])
def test_the_platform_imports_no_domain(part: str) -> None:
    assert violations(f"gateway/{part}", platform_violation) == []


def test_the_rules_see_a_wrong_arrow(tmp_path: Path) -> None:
    """The checks are not vacuous: each kind of wrong import is caught."""
    assert library_violation("forms", "signing.pdfmeta")
    assert library_violation("signing", "forms.halsoforfragan")
    assert library_violation("forms", "sqlalchemy.orm")
    assert library_violation("signing", "gateway.errors")
    assert not library_violation("forms", "common.rules")
    assert platform_violation("gateway.inquiries.models")
    assert platform_violation("gateway.models")
    assert not platform_violation("gateway.db")
    assert not platform_violation("gateway.audit.service")
    late = tmp_path / "late.py"
    late.write_text("def f():\n    from gateway.auth.models import User\n", encoding="utf-8")
    assert list(imported(late)) == [(2, "gateway.auth.models")]
