"""Property (hypothesis): any mutation of a valid hälsoförfrågan sent over HTTP is accepted or
refused with a 4xx problem, never a 5xx, and a refused form never leaves an inquiry behind."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.db import get_session
from tests.support.forms import NS, halsoforfragan, nth_personnummer
from tests.support.intake import counts, load_directory, new_client
from tests.support.pki import install_pki

BASE = halsoforfragan()
NAMES = sorted({etree.QName(e).localname for e in etree.fromstring(BASE).iter(etree.Element)})
ATTRIBUTES = ["hsaId", "kod", "sprak", "filnamn", "version", "x"]
INTERESTING = [
    "", " ", "1.0", "191212121212", "191212121213", "SE2321000255-K001", "SE2321000255-K002",
    "SE5561234567-V001", "SE2321000255-K999", "sdk:ebb-norr:0203:malmo.se", "0203:lund.se",
    "2024-02-29", "2999-01-01", "muntligt", "socialtjanst", "arbetsmarknad", "OVRIGT", "SIP",
    "JVBERi0xLjQK", "<", "&amp;", "å" * 4001,
]
TEXT = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=30),
)
SNIPPETS = st.one_of(
    st.text("<>/&;#x\"'=?! -[]:åé0123456789\n", max_size=8).map(str.encode),
    st.binary(max_size=4),
)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
    ],
)


@pytest.fixture
def token(app: Flask, instance: Path, pki_template: Path) -> str:
    install_pki(instance, pki_template)
    session = get_session()
    load_directory(session)
    return new_client(session)


@st.composite
def fresh_forms(draw: st.DrawFn) -> bytes:
    """A valid form of its own: a drawn id and person."""
    inquiry_id = str(draw(st.uuids(version=4)))
    person = nth_personnummer(draw(st.integers(0, 5000)))
    return halsoforfragan(id=inquiry_id, personnummer=person)


def _mutate(draw: st.DrawFn, root: etree._Element) -> None:
    elements = list(root.iter(etree.Element))
    node = draw(st.sampled_from(elements))
    parent = node.getparent()
    operation = draw(st.sampled_from(["drop", "duplicate", "text", "attribute", "rename"]))
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
    else:
        parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(node))


@st.composite
def mutated_trees(draw: st.DrawFn) -> bytes:
    root = etree.fromstring(draw(fresh_forms()))
    for _ in range(draw(st.integers(1, 3))):
        _mutate(draw, root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(fresh_forms()))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 8))
        data[position : position + cut] = draw(SNIPPETS)
    return bytes(data)


def _accepted_or_refused_cleanly(client: FlaskClient, token: str, data: bytes) -> None:
    session = get_session()
    before = counts(session).inquiries
    session.commit()
    response = client.post(
        "/api/v1/inquiries", data=data, content_type="application/xml",
        headers={"Authorization": f"Bearer {token}"},
    )
    after = counts(get_session()).inquiries
    get_session().commit()
    text = response.get_data(as_text=True)
    event(f"status {response.status_code}")
    assert response.status_code < 500, text
    body: dict[str, Any] = response.get_json()
    if response.status_code == 201:
        assert after == before + 1
        return
    assert after == before, f"a refused form ({response.status_code}) left an inquiry"
    if response.status_code != 200:
        assert response.mimetype == "application/problem+json"
        assert body["eventIssues"] and all(i["typeCode"] for i in body["eventIssues"])


def test_mutated_trees_over_http(client: FlaskClient, token: str) -> None:
    @SETTINGS
    @given(mutated_trees())
    def run(data: bytes) -> None:
        _accepted_or_refused_cleanly(client, token, data)

    run()


def test_mutated_bytes_over_http(client: FlaskClient, token: str) -> None:
    @SETTINGS
    @given(mutated_bytes())
    def run(data: bytes) -> None:
        _accepted_or_refused_cleanly(client, token, data)

    run()
