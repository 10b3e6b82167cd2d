"""The project's XSDs (in the repository's `schemas/` folder), compiled once per thread."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

# The canonical XSDs live in `schemas/` beside this package; the project is installed from
# its checkout (`pip install -e .`, as the Makefile, CI and deploy do), so they are found here.
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

HALSOFORFRAGAN_XSD = "halsoforfragan-1.xsd"
HALSOFORFRAGAN_SVAR_XSD = "halsoforfragan-svar-1.xsd"

# An XMLSchema keeps its error_log on the instance, so concurrent validations in one process
# (threaded web workers) each need their own instance.
_local = threading.local()


def schema_path(name: str) -> Path:
    """Return the path of the XSD `name`; raise FileNotFoundError if it is not installed."""
    path = SCHEMA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"XSD {name} not found in {SCHEMA_DIR}")
    return path


def load_schema(name: str) -> etree.XMLSchema:
    """Return this thread's compiled XSD `name` (our own files: no network, no DTD)."""
    cache: dict[str, etree.XMLSchema] = _local.__dict__.setdefault("schemas", {})
    schema = cache.get(name)
    if schema is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path(name)), parser))
        cache[name] = schema
    return schema
