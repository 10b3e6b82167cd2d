"""Property: any mutation of the valid form is either parsed or refused with FormError issues,
never any other exception (hypothesis)."""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from forms import FormError, Halsoforfragan, check_consent, parse_halsoforfragan

VALID = (Path(__file__).parent / "data" / "halsoforfragan-valid.xml").read_bytes()
NS = "urn:kryddgarden:halsoforfragan:1"
NAMES = sorted(
    {etree.QName(e).localname for e in etree.fromstring(VALID).iter(etree.Element)} | {"x"}
)
ATTRIBUTES = ["hsaId", "kod", "sprak", "filnamn", "version", "x"]
INTERESTING = [
    "",
    " ",
    "1.0",
    "191212121212",
    "191212121213",
    "202302301234",
    "SE2321000255-K001",
    "SE2321000255-K002",
    "2024-02-29",
    "2024-03-01T09:15:00+01:00",
    "2024-03-01T09:15:00",
    "OVRIGT",
    "SIP",
    "muntligt",
    "socialtjanst",
    "JVBERi0xLjQK",
    "<",
    "&amp;",
    "å" * 4001,
]
# Text lxml can put into a tree: no surrogates, C0 controls or non-characters.
TEXT = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")) | st.just("\n"),
        max_size=40,
    ),
)
# Mostly markup characters, so that mutations reach the parser and the schema, not only
# the UTF-8 check.
SNIPPETS = st.one_of(
    st.text("<>/&;#x\"'=?! -[]CDATA:åé0123456789\n", max_size=8).map(str.encode),
    st.binary(max_size=4),
)
SETTINGS = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _mutate(draw: st.DrawFn, root: etree._Element) -> None:
    elements = list(root.iter(etree.Element))
    node = draw(st.sampled_from(elements))
    parent = node.getparent()
    operation = draw(st.sampled_from(["drop", "duplicate", "move", "text", "attribute", "rename"]))
    if operation == "text":
        node.text = draw(TEXT)
    elif operation == "attribute":
        node.set(draw(st.sampled_from(ATTRIBUTES)), draw(TEXT))
    elif operation == "rename":
        namespace = draw(st.sampled_from([NS, NS, "urn:other", None]))
        name = draw(st.sampled_from(NAMES))
        node.tag = f"{{{namespace}}}{name}" if namespace else name
    elif parent is None:
        return
    elif operation == "drop":
        parent.remove(node)
    elif operation == "duplicate":
        parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(node))
    else:  # move: to another place in its parent or into another element
        target = draw(st.sampled_from([e for e in elements if node not in e.iterancestors()]))
        if target is node or node in target.iterancestors():
            return
        parent.remove(node)
        target.insert(draw(st.integers(0, len(target))), node)


@st.composite
def mutated_trees(draw: st.DrawFn) -> bytes:
    root = etree.fromstring(VALID)
    for _ in range(draw(st.integers(1, 4))):
        _mutate(draw, root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 8))
        data[position : position + cut] = draw(SNIPPETS)
    return bytes(data)


def _assert_parsed_or_refused(data: bytes) -> None:
    try:
        form = parse_halsoforfragan(data)
    except FormError as error:
        assert error.issues
        assert all(i.code and i.title for i in error.issues)
        return
    assert isinstance(form, Halsoforfragan)
    for kind in ("socialtjanst", "arbetsmarknad"):
        report = check_consent(form, sender_kind=kind)
        try:
            report.raise_for_failures()
        except FormError as error:
            assert error.issues


@SETTINGS
@given(mutated_trees())
def test_tree_mutations_are_parsed_or_refused(data: bytes) -> None:
    _assert_parsed_or_refused(data)


@SETTINGS
@given(mutated_bytes())
def test_byte_mutations_are_parsed_or_refused(data: bytes) -> None:
    _assert_parsed_or_refused(data)
