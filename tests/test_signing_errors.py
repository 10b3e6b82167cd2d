"""Every error the signing library raises on purpose has one root, SigningError, and a code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import signing
from signing.errors import SigningError
from signing.receipts import ReceiptError


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.iter_modules(signing.__path__):
        module = importlib.import_module(f"signing.{info.name}")
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found[f"{module.__name__}.{name}"] = value
    return list(found.values())


def test_every_signing_error_has_the_one_root_and_a_code_of_its_own() -> None:
    errors = [e for e in _error_classes() if e is not SigningError]
    assert len(errors) >= 7
    for error in errors:
        assert issubclass(error, SigningError), error
    # Each kind's own code (some also carry a finer one per instance, e.g. ReceiptError).
    codes = [error.code for error in errors]  # type: ignore[attr-defined]
    assert all(codes) and len(set(codes)) == len(codes)


def test_a_receipt_error_carries_the_check_that_failed() -> None:
    error = ReceiptError("SIGNATURE_INVALID", "the signature does not verify")
    assert isinstance(error, SigningError) and error.code == "SIGNATURE_INVALID"
