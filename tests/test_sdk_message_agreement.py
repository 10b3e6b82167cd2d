"""The project's validation of SDK messages agrees with DIGG's own validators: xmllint with
DIGG's XSD, and DIGG's message schematron (its XPath run by Saxon), on DIGG's examples, its error
test data, a corpus of mutations of them and of our builder's output, and generated messages.

Agreement means: the same verdict; our SV issues name the (line, element) xmllint names; our
schematron-rule issues are exactly the (pattern id, element) pairs whose assert fails; and our
own B1.3.3 rules (SDK_*) fire exactly where each variant says they must.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from forms.sdk.message import (
    ContentFile,
    Document,
    Identifier,
    Message,
    TreeBuilder,
    build_message,
    check_message,
    parse_message,
    serialize,
)
from forms.sdk.message_rules import SCHEMATRON_CODES, MessageError
from tests.support import digg
from tests.support.sdk_messages import full_message, messages, small_message

TNS = digg.MESSAGE_NS
T = f"{{{TNS}}}"
OTHER = "urn:example:extension"
FA_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"
UUID_FIELDS = ("messageId", "conversationId", "refToMessageId")
BAD_UUIDS = (
    "not-a-uuid",
    "7bc5576a3f874cf5a0c5277da06fcacb",
    "{7bc5576a-3f87-4cf5-a0c5-277da06fcacb}",
    " 7bc5576a-3f87-4cf5-a0c5-277da06fcacb",
    "7bc5576a-3f87-4cf5-a0c5-277da06fcacb\n",
    "7BC5576A-3F87-4CF5-A0C5-277DA06FCACB",
    "7bc5576a-3f87-4cf5-a0c5-277da06fcacbÖ",
    "gbc5576a-3f87-4cf5-a0c5-277da06fcacb",
)
TIMESTAMPS = (
    "2022-10-13T18:10:39.8Z",
    "2022-10-13T18:10:39Z",
    "2022-10-13T18:10:39.8431Z",
    "2022-10-13T18:10:39.843+00:00",
    "2022-10-13T18:10:39.843",
    "2022-10-13 18:10:39.843Z",
    "2022-13-13T18:10:39.843Z",
    "2022-02-30T18:10:39.843Z",
    "2022-10-13T24:00:00.000Z",
    "2022-10-13T18:10:39,843Z",
    " 2022-10-13T18:10:39.843Z",
    "2022-10-13T18:10:39.843Z ",
    "3 Sept. 2019",
    "12022-10-13T18:10:39.843Z",
    "2022-10-13T18:10:60.000Z",
    "2022-10-13t18:10:39.843z",
)
ORGANISATION_ROOTS = ("iso6523-actorid-upis ", "ISO6523-ACTORID-UPIS", "icke-godkänt-kodverk")
ADDRESS_ROOTS = (FA_ROOT + " ", FA_ROOT.lower(), "iso6523-actorid-upis")
CONTENTS = {  # value: the project codes it must raise beyond DIGG's
    "=AAA": set(), "!": set(), " QUJD": set(), "QUJD\nREVG": set(), "QUJD RA==": set(),
    "A!!!": {"SDK_BASE64"}, "QUJDRA=": {"SDK_BASE64"}, "QUJD=REVG": {"SDK_BASE64"},
}
ORGANISATIONS = {
    "0203:Bad_Domain": {"SDK_ORGANISATION_ID"},
    "0203:http://inera.se": {"SDK_ORGANISATION_ID"},  # B1.3.3's own example
    "0007:5560360793": set(),
    "0007:5560360794": {"SDK_ORGANISATION_ID"},
}
CONFIDENTIALITY = ("yes", " true ", "1", "0", "TRUE")


@dataclass(frozen=True)
class Variant:
    name: str
    data: bytes
    # Project codes this variant raises beyond SDK_DOCUMENT_EMPTY, which is computed.
    project: frozenset[str] = field(default_factory=frozenset)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _parent(element: etree._Element) -> str:
    parent = element.getparent()
    return _local(parent) if parent is not None else ""


def _variants_of(base_name: str, data: bytes) -> Iterator[Variant]:
    """Every generic and targeted mutation of one document."""
    base = etree.fromstring(data)
    count = sum(1 for _ in base.iter(etree.Element))

    def mutate(index: int, change: Callable[[etree._Element], object]) -> bytes:
        root = copy.deepcopy(base)
        element = list(root.iter(etree.Element))[index]
        change(element)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    for index, element in enumerate(base.iter(etree.Element)):
        where = f"{base_name}:{index}:{_local(element)}"
        leaf = len(element) == 0
        yield Variant(f"{where}:empty", mutate(index, _empty))
        if leaf:
            yield Variant(f"{where}:blank", mutate(index, lambda e: setattr(e, "text", " \n\t ")))
            # Not blank to XPath, which knows only four whitespace characters.
            organisation = _local(element) == "extension" and _parent(element).endswith("ID")
            yield Variant(f"{where}:nbsp", mutate(index, lambda e: setattr(e, "text", "\u00a0")),
                          frozenset({"SDK_ORGANISATION_ID"} if organisation else ()))
        if index:
            yield Variant(f"{where}:drop", mutate(index, _drop))
            yield Variant(f"{where}:dup", mutate(index, _duplicate))
        yield from _targeted(where, element, lambda change, i=index: mutate(i, change))
    assert count > 10


def _empty(element: etree._Element) -> None:
    for child in list(element):
        element.remove(child)
    element.text = None


def _drop(element: etree._Element) -> None:
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)


def _duplicate(element: etree._Element) -> None:
    element.addnext(copy.deepcopy(element))


def _set(text: str) -> Callable[[etree._Element], None]:
    def change(element: etree._Element) -> None:
        element.text = text

    return change


_Change = Callable[[etree._Element], object]


def _targeted(
    where: str, element: etree._Element, mutate: Callable[[_Change], bytes]
) -> Iterator[Variant]:
    name, parent = _local(element), _parent(element)
    values: dict[str, set[str]] = {}
    if name in UUID_FIELDS:
        values = {v: set() for v in BAD_UUIDS}
    elif name == "creationDateTime":
        values = {v: set() for v in TIMESTAMPS}
    elif name == "root" and parent in ("senderID", "recipientID"):
        values = {v: set() for v in ORGANISATION_ROOTS}
    elif name == "root" and parent == "organizationId":
        values = {v: set() for v in ADDRESS_ROOTS}
    elif name == "extension" and parent in ("senderID", "recipientID"):
        values = ORGANISATIONS
    elif name == "label":
        values = {"x" * 256: set(), "x" * 257: set(), "å" * 257: set(), "\U0001f600" * 256: set(),
                  "\U0001f600" * 257: set()}
    elif name == "content":
        values = CONTENTS
    elif name == "confidentiality":
        values = {v: set() for v in CONFIDENTIALITY}
    for n, (value, project) in enumerate(values.items()):
        yield Variant(f"{where}:value{n}", mutate(_set(value)), frozenset(project))
    if name == "messageHeader":
        yield Variant(f"{where}:foreign", mutate(lambda e: _append(e, f"{{{OTHER}}}note", "x")))
        yield Variant(f"{where}:foreign-empty", mutate(lambda e: _append(e, f"{{{OTHER}}}note")))
        yield Variant(f"{where}:unqualified", mutate(lambda e: _append(e, "note", "x")))
        yield Variant(f"{where}:unknown", mutate(lambda e: _append(e, f"{T}note", "x")))
        yield Variant(f"{where}:swap", mutate(_swap_ids))
    if name == "messagePayload":
        yield Variant(f"{where}:rename", mutate(lambda e: setattr(e, "tag", f"{T}message")))


def _append(parent: etree._Element, tag: str, text: str | None = None) -> None:
    etree.SubElement(parent, tag).text = text


def _swap_ids(header: etree._Element) -> None:
    message_id = header.find(f"{T}messageId")
    assert message_id is not None
    header.remove(message_id)
    header.find(f"{T}conversationId").addnext(message_id)  # type: ignore[union-attr]


def corpus() -> list[Variant]:
    bases = [(f"digg{n}", data) for n, data in enumerate(digg.message_payloads())]
    bases += [(p.stem, p.read_bytes()) for p in digg.message_testdata()]
    bases += [("full", build_message(full_message())), ("small", build_message(small_message()))]
    found = [Variant(name, data) for name, data in bases]
    for name, data in bases:
        if name.startswith(("digg0", "min", "full")):
            found.extend(_variants_of(name, data))
    return found


@dataclass(frozen=True)
class Judged:
    variant: Variant
    path: Path
    lint: digg.LintResult
    schematron: frozenset[tuple[str, str]]
    documents_empty: frozenset[tuple[str, str]]


_EMPTY_DOCUMENTS = "//tns:documents[not(tns:ContentFiles or tns:ContentText)]"


def _documents_empty(path: Path) -> frozenset[tuple[str, str]]:
    """B1.3.3 4.3.3.1 independently: the documents with neither a file nor a text."""
    tree = etree.parse(str(path))
    return frozenset(
        ("SDK_DOCUMENT_EMPTY", _element_path(e))
        for e in tree.xpath(_EMPTY_DOCUMENTS, namespaces={"tns": TNS})
    )


def _element_path(element: etree._Element) -> str:
    steps = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        same = [s for s in parent if s.tag == node.tag] if parent is not None else [node]
        steps.append(_local(node) + (f"[{same.index(node) + 1}]" if len(same) > 1 else ""))
        node = parent
    return "/" + "/".join(reversed(steps))


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> list[Judged]:
    folder = tmp_path_factory.mktemp("sdk-corpus")
    variants = corpus()
    paths = []
    for n, variant in enumerate(variants):
        path = folder / f"{n:04d}.xml"
        path.write_bytes(variant.data)
        paths.append(path)
    lint = digg.lint_messages(paths)
    failures = digg.message_schematron().failures_of(paths)
    return [
        Judged(v, p, lint[p], failures[p], _documents_empty(p))
        for v, p in zip(variants, paths, strict=True)
    ]


def _disagreement(case: Judged) -> str | None:
    """Return how our report differs from DIGG's validators on one variant, or None."""
    report = check_message(case.variant.data)
    ours_sv = {(i.line, _last_step(i.path)) for i in report.issues if i.code == "SV"}
    ours_digg = {(i.code, i.path) for i in report.issues if i.code in SCHEMATRON_CODES}
    ours_project = {(i.code, i.path) for i in report.issues if i.code.startswith("SDK_")}
    expected_project = {c for c, _ in case.documents_empty} | set(case.variant.project)
    others = {i.code for i in report.issues} - {"SV", *SCHEMATRON_CODES} - {
        c for c, _ in ours_project
    }
    problems = []
    if bool(ours_sv) == case.lint.valid or ours_sv != set(case.lint.errors):
        problems.append(f"XSD: ours {sorted(ours_sv)}, xmllint {sorted(case.lint.errors)}")
    if ours_digg != set(case.schematron):
        problems.append(f"schematron: ours {sorted(ours_digg)}, DIGG's {sorted(case.schematron)}")
    if not case.documents_empty <= ours_project or {c for c, _ in ours_project} != expected_project:
        problems.append(f"B1.3.3: ours {sorted(ours_project)}, expected {sorted(expected_project)}")
    if others:
        problems.append(f"unexpected codes {sorted(others)}")
    verdict = case.lint.valid and not case.schematron and not expected_project
    if report.valid != verdict or report.total != len(report.issues):
        problems.append(f"verdict: ours {report.valid}, DIGG's and B1.3.3's {verdict}")
    return f"{case.variant.name}: " + "; ".join(problems) if problems else None


def _last_step(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path.rsplit("/", 1)[-1])


def test_digg_examples_and_testdata_as_digg_judges_them(judged: list[Judged]) -> None:
    by_name = {j.variant.name: j for j in judged}
    assert by_name["digg0"].lint.valid and not by_name["digg0"].schematron
    assert by_name["digg1"].lint.valid and not by_name["digg1"].schematron  # the XHE example's
    assert by_name["min"].lint.valid and not by_name["min"].schematron
    disagreements = [
        d for name in ("digg0", "digg1", "min", "TF2.4.1", "TF2.4.2", "full", "small")
        if (d := _disagreement(by_name[name]))
    ]
    assert not disagreements, "\n".join(disagreements)


def test_tf_2_4_1_names_the_bad_date_and_the_bad_conversation_id() -> None:
    [tf241] = [p for p in digg.message_testdata() if p.name == "TF2.4.1.xml"]
    report = check_message(tf241.read_bytes())
    header = "/messagePayload/message/messageHeader"
    assert [(i.code, i.path, i.line) for i in report.issues] == [
        ("SV", f"{header}/creationDateTime", 6),
        ("creationDateTime", f"{header}/creationDateTime", 6),
        ("conversationId", f"{header}/conversationId", 8),
    ]
    assert not report.valid
    reasons = report.receipt_reasons()
    assert [(r.code, r.detail, r.text.split(":")[0]) for r in reasons] == [
        ("SV", "structure", "SV"),
        ("BV", "invariant", "creationDateTime"),
        ("BV", "invariant", "conversationId"),
    ]
    assert reasons[0].line == f"{header}/creationDateTime"


def test_tf_2_4_2_names_the_wrong_sender_root() -> None:
    [tf242] = [p for p in digg.message_testdata() if p.name == "TF2.4.2.xml"]
    report = check_message(tf242.read_bytes())
    assert [(i.code, i.path) for i in report.issues] == [
        ("senderIdvalue", "/messagePayload/message/messageHeader/sender/senderID/root")
    ]


def test_every_mutation_is_judged_as_digg_judges_it(judged: list[Judged]) -> None:
    assert len(judged) > 500
    # The corpus reaches every rule of DIGG's schematron and both verdicts of the XSD.
    failed = {pattern for j in judged for pattern, _ in j.schematron}
    assert failed == set(SCHEMATRON_CODES)
    assert any(j.lint.valid for j in judged) and any(not j.lint.valid for j in judged)
    disagreements = [d for j in judged if (d := _disagreement(j))]
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(
        disagreements[:40]
    )


def test_every_valid_variant_round_trips_through_the_builder(
    judged: list[Judged], tmp_path: Path
) -> None:
    """parse(build(parse(x))) == parse(x), and what the builder writes passes DIGG's XSD."""
    built = {}
    for case in judged:
        if not check_message(case.variant.data).valid:
            continue
        message = parse_message(case.variant.data)
        data = build_message(message)
        assert parse_message(data) == message, case.variant.name
        assert build_message(parse_message(data)) == data, case.variant.name
        path = tmp_path / f"{len(built):04d}.xml"
        path.write_bytes(data)
        built[path] = case.variant.name
    assert len(built) > 100
    lint = digg.lint_messages(built)
    failures = digg.message_schematron().failures_of(built)
    wrong = [f"{built[p]}: {r.output}" for p, r in lint.items() if not r.valid]
    wrong += [f"{built[p]}: {sorted(f)}" for p, f in failures.items() if f]
    assert not wrong, "\n".join(wrong[:20])


def _digg_verdicts(documents: list[bytes]) -> list[tuple[digg.LintResult, set[str]]]:
    """Return xmllint's result and the failed schematron patterns for each document (one run
    of each validator for all of them)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{n}.xml" for n in range(len(documents))]
        for path, data in zip(paths, documents, strict=True):
            path.write_bytes(data)
        lint = digg.lint_messages(paths)
        failures = digg.message_schematron().failures_of(paths)
        return [(lint[p], {pattern for pattern, _ in failures[p]}) for p in paths]


# Several messages an example: each example runs xmllint and Saxon once for all of them.
GENERATED = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@GENERATED
@given(st.lists(messages(), min_size=1, max_size=3))
def test_what_the_builder_writes_digg_accepts_and_reads_back(batch: list[Message]) -> None:
    built = []
    for message in batch:
        data = build_message(message)
        assert parse_message(data) == message
        assert build_message(message) == data
        built.append(data)
    for lint, failed in _digg_verdicts(built):
        assert lint.valid, lint.output
        assert not failed


def _broken(message: Message, label: str) -> Message:
    """The message with a short id, a wrong root and a blank or overlong label."""
    header = message.header
    return dataclasses.replace(message, header=dataclasses.replace(
        header,
        message_id=header.message_id[:-1],
        label=" \n" if label == "blank" else "x" * 257,
        recipient=dataclasses.replace(
            header.recipient,
            recipient_id=Identifier("fel", header.recipient.recipient_id.extension),
        ),
    ))


@GENERATED
@given(st.lists(st.tuples(messages(), st.sampled_from(["blank", "long"])), min_size=1,
                max_size=3))
def test_a_message_the_builder_refuses_digg_refuses_for_the_same_rules(
    batch: list[tuple[Message, str]],
) -> None:
    """Break generated messages: the builder refuses each, and DIGG's validators name the same
    rules in the XML it would have written."""
    refusals = []
    for message, label in batch:
        broken = _broken(message, label)
        with pytest.raises(MessageError) as refused:
            build_message(broken)
        codes = set(refused.value.report.codes)
        assert codes == {"MessageId", "recipientIdvalue",
                         "verifyNonEmptyElements" if label == "blank" else "subjectlabel"}
        refusals.append((codes, serialize(TreeBuilder().payload(broken))))
    verdicts = _digg_verdicts([data for _, data in refusals])
    for (codes, _), (lint, failed) in zip(refusals, verdicts, strict=True):
        assert lint.valid
        assert codes == failed


def test_a_message_over_libxml2s_text_limit_is_read_and_agrees(tmp_path: Path) -> None:
    """An 8 MiB file: its base64 is over libxml2's 10 MB text node limit without huge_tree."""
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    file = ContentFile("big.bin", "application/octet-stream", big)
    message = Message(small_message().header, (Document("1", content_files=(file,)),))
    data = build_message(message)
    assert len(data) > 10_000_000
    assert parse_message(data) == message
    path = tmp_path / "big.xml"
    path.write_bytes(data)
    assert digg.lint_messages([path])[path].valid
