"""POST /api/v1/inquiries/{id}/answer and friends: refusals by rule (P1–P9, C2), who may do what,
an answer signed by poppler's pdfsig accepted, registered and close."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.db import get_session
from gateway.directory.models import CareUnit
from gateway.inquiries.answers import answer_for
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Inquiry
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan
from tests.support.intake import bearer
from tests.support.pdfs import (
    PHYSICIAN,
    TestPki,
    altered,
    javascript_catalog,
    nss_db,
    pdfsig_sign,
    pdfsig_tools,
    plain_pdf,
    sign,
    with_changed_page,
)
from tests.support.reko import (
    ANNA,
    CECILIA,
    Parties,
    leg_kinds,
    parties,
    post_answer,
    signed_answer,
)
from tests.support.reko import submit as submit_api

UTC = dt.UTC


@dataclass
class World:
    app: Flask
    client: FlaskClient
    tokens: Parties
    pki: TestPki


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
    return World(app, app.test_client(), tokens, installed_pki)


Make = Callable[[TestPki, str], bytes]

REFUSALS: list[tuple[str, Make, tuple[str, ...]]] = [
    ("not a PDF", lambda pki, i: b"Hej, detta ar ingen PDF.\n", ("P1",)),
    ("unsigned", lambda pki, i: plain_pdf(reference=i), ("P2",)),
    ("altered after signing",
     lambda pki, i: altered(signed_answer(pki, i), b"595 842", b"595 843"), ("P2",)),
    ("changed in a later revision", lambda pki, i: with_changed_page(signed_answer(pki, i)),
     ("P5",)),
    ("signed by a REKO of another VC", lambda pki, i: signed_answer(pki, i, CECILIA), ("P4",)),
    ("signed by a physician alone",
     lambda pki, i: sign(plain_pdf(reference=i), pki.physician_p12(PHYSICIAN)), ("P4",)),
    ("untrusted issuer", lambda pki, i: sign(plain_pdf(reference=i), pki.extra_p12("foreign_ca")),
     ("P3",)),
    ("expired certificate", lambda pki, i: sign(plain_pdf(reference=i), pki.extra_p12("expired")),
     ("P3",)),
    ("JavaScript",
     lambda pki, i: sign(plain_pdf(reference=i, extra_catalog=javascript_catalog()),
                         pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes()), ("P8",)),
    ("another inquiry's reference",
     lambda pki, i: signed_answer(pki, "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"), ("P7",)),
]


@pytest.mark.parametrize(("make", "codes"), [(m, c) for _, m, c in REFUSALS],
                         ids=[name for name, _, _ in REFUSALS])
def test_an_answer_breaking_a_rule_is_refused_naming_the_rule(
    world: World, make: Make, codes: tuple[str, ...]
) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        response = post_answer(world.client, world.tokens.reko, inquiry_id,
                               make(world.pki, inquiry_id))
        assert response.status_code == 422, response.get_data(as_text=True)
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        found = {issue["typeCode"] for issue in problem["eventIssues"]}
        assert set(codes) <= found
        assert "answered" not in leg_kinds(inquiry_id)


def test_consent_expired_before_the_answer_blocks_it_and_says_whom_to_call(world: World) -> None:
    with world.app.app_context():
        received = dt.datetime.now(UTC) - dt.timedelta(days=10)
        xml = halsoforfragan(received, giltigt_till=(received.date() + dt.timedelta(days=2))
                             .isoformat())
        session = get_session()
        result = submit(session, xml, submitter=Submitter("client:x", MALMO,
                                                          frozenset({EBB_OSTER})),
                        channel="api", now=received)
        session.commit()
        inquiry_id = result.inquiry.id
        response = post_answer(world.client, world.tokens.reko, inquiry_id,
                               signed_answer(world.pki, inquiry_id))
        assert response.status_code == 422
        problem = response.get_json()
        assert [i["typeCode"] for i in problem["eventIssues"]] == ["C2"]
        assert "040-34 10 00" in problem["detail"]  # the case worker's phone
        assert "answered" not in leg_kinds(inquiry_id)


# The sender's client knows the inquiry (403); another VC's client cannot see it at all and
# gets the 404 an unknown id gets (the access service's rule).
@pytest.mark.parametrize(("who", "status"), [("sender", 403), ("other_vc", 404)])
def test_only_the_care_units_client_may_answer(world: World, who: str, status: int) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        token = getattr(world.tokens, who)
        response = post_answer(world.client, token, inquiry_id,
                               signed_answer(world.pki, inquiry_id))
        assert response.status_code == status
        assert "answered" not in leg_kinds(inquiry_id)


def test_answer_needs_a_pdf_content_type_and_a_known_inquiry(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        pdf = signed_answer(world.pki, inquiry_id)
        assert post_answer(world.client, world.tokens.reko, inquiry_id, pdf,
                           content_type="application/octet-stream").status_code == 415
        assert post_answer(world.client, world.tokens.reko,
                           "00000000-0000-4000-8000-000000000000", pdf).status_code == 404
        assert post_answer(world.client, world.tokens.reko, "not-an-id", pdf).status_code == 404


def test_a_large_answer_is_read_from_a_spooled_body_and_stored_byte_for_byte(
    world: World,
) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        pdf = sign(plain_pdf(reference=inquiry_id, padding=3 * 1024 * 1024),
                   world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes())
        response = post_answer(world.client, world.tokens.reko, inquiry_id, pdf)
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.get_json()["sha256"] == hashlib.sha256(pdf).hexdigest()
        stored = answer_for(get_session(), inquiry_id)
        assert stored is not None and stored.pdf == pdf


def test_a_second_answer_is_a_conflict_and_the_first_stays(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        first = signed_answer(world.pki, inquiry_id)
        assert post_answer(world.client, world.tokens.reko, inquiry_id, first).status_code == 201
        again = post_answer(world.client, world.tokens.reko, inquiry_id,
                            signed_answer(world.pki, inquiry_id))
        assert again.status_code == 409
        fetched = world.client.get(f"/api/v1/inquiries/{inquiry_id}/answer",
                                   headers=bearer(world.tokens.sender))
        assert fetched.get_data() == first


def test_only_the_sender_fetches_and_registers_and_not_before_an_answer(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        url = f"/api/v1/inquiries/{inquiry_id}"
        assert world.client.get(url + "/answer",
                                headers=bearer(world.tokens.sender)).status_code == 404
        assert world.client.post(url + "/registered",
                                 headers=bearer(world.tokens.sender)).status_code == 409
        post_answer(world.client, world.tokens.reko, inquiry_id,
                    signed_answer(world.pki, inquiry_id))
        assert world.client.get(url + "/answer",
                                headers=bearer(world.tokens.other_vc)).status_code == 404
        assert world.client.get(url + "/answer",
                                headers=bearer(world.tokens.reko)).status_code == 403
        bad_time = world.client.post(url + "/registered", headers=bearer(world.tokens.sender),
                                     json={"registered_at": "2001-01-01T00:00:00Z"})
        assert bad_time.status_code == 422
        assert world.client.post(url + "/registered", json={"registered_at": "igår"},
                                 headers=bearer(world.tokens.sender)).status_code == 422
        ok = world.client.post(url + "/registered", headers=bearer(world.tokens.sender))
        assert ok.status_code == 200
        assert ok.get_json()["status"] == "registered"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"reason": "NOPE"}, 422, "CLOSE_REASON_INVALID"),
        ({}, 422, "CLOSE_REASON_INVALID"),
        ({"reason": "OTHER"}, 422, "CLOSE_TEXT_REQUIRED"),
        ({"reason": "OTHER", "text": "x" * 501}, 422, "CLOSE_TEXT_INVALID"),
    ],
)
def test_close_refuses_bad_reasons(world: World, body: dict[str, str], status: int,
                                   code: str) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        response = world.client.post(f"/api/v1/inquiries/{inquiry_id}/close", json=body,
                                     headers=bearer(world.tokens.reko))
        assert response.status_code == status
        assert response.get_json()["eventIssues"][0]["typeCode"] == code


@pytest.mark.parametrize("who", ["sender", "reko"])
def test_either_party_closes_with_a_reason_and_then_no_answer_is_taken(
    world: World, who: str
) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        url = f"/api/v1/inquiries/{inquiry_id}"
        assert world.client.post(url + "/close", json={"reason": "DUPLICATE"},
                                 headers=bearer(world.tokens.other_vc)).status_code == 404
        closed = world.client.post(url + "/close", json={"reason": "DUPLICATE"},
                                   headers=bearer(getattr(world.tokens, who)))
        assert closed.status_code == 200
        assert closed.get_json()["status"] == "closed"
        late = post_answer(world.client, world.tokens.reko, inquiry_id,
                           signed_answer(world.pki, inquiry_id))
        assert late.status_code == 409


def test_reroute_past_the_consent_is_refused_naming_c4(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        url = f"/api/v1/inquiries/{inquiry_id}"
        same = world.client.post(url + "/reroute", json={"care_unit": "SE2321000255-K001"},
                                 headers=bearer(world.tokens.reko))
        assert same.status_code == 422
        # The consent lets Kryddgården disclose, not Husie: the data may not go there.
        moved = world.client.post(url + "/reroute", json={"care_unit": "SE2321000255-K005"},
                                  headers=bearer(world.tokens.reko))
        assert moved.status_code == 422, moved.get_data(as_text=True)
        body = moved.get_json()
        assert [i["typeCode"] for i in body["eventIssues"]] == ["C4"]
        assert "skicka den vidare med ett nytt samtycke som gäller SE2321000255-K005" in \
            body["detail"]
        assert "Avsluta förfrågan med anledningen att personen är listad" in body["detail"]
        assert "rerouted" not in leg_kinds(inquiry_id)
        assert post_answer(world.client, world.tokens.reko, inquiry_id,
                           signed_answer(world.pki, inquiry_id)).status_code == 201


def test_an_answer_from_a_vc_the_consent_does_not_name_is_refused_by_c4(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        # Moved to Husie as a re-route did before C4 was checked on re-routes.
        session = get_session()
        inquiry = session.get(Inquiry, inquiry_id)
        husie = session.scalars(select(CareUnit).where(
            CareUnit.hsa_id == "SE2321000255-K005")).one()
        assert inquiry is not None
        inquiry.care_unit_id, inquiry.routed_to = husie.id, "sdk:reko-husie:0203:skane.se"
        session.commit()
        answered = post_answer(world.client, world.tokens.other_vc, inquiry_id,
                               signed_answer(world.pki, inquiry_id, CECILIA))
        assert answered.status_code == 422, answered.get_data(as_text=True)
        assert "C4" in {i["typeCode"] for i in answered.get_json()["eventIssues"]}
        assert "answered" not in leg_kinds(inquiry_id)


def test_an_answer_signed_by_poppler_pdfsig_is_accepted(world: World, tmp_path: Path) -> None:
    pdfsig_tools()
    db = nss_db(tmp_path / "nss",  world.pki,
                [(world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes(), ANNA.name)])
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        pdf = pdfsig_sign(plain_pdf(reference=inquiry_id), db, ANNA.name, tmp_path,
                          field_name="reko")
        response = post_answer(world.client, world.tokens.reko, inquiry_id, pdf)
        assert response.status_code == 201, response.get_data(as_text=True)
        fetched = world.client.get(f"/api/v1/inquiries/{inquiry_id}/answer",
                                   headers=bearer(world.tokens.sender))
        assert fetched.get_data() == pdf


def test_the_openapi_document_describes_the_answer_operations(world: World) -> None:
    with world.app.app_context():
        paths = world.client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/inquiries/{id}/answer"])
    for path in ("registered", "close", "reroute"):
        assert "post" in paths[f"/api/v1/inquiries/{{id}}/{path}"]


def test_a_configured_crl_revoking_the_reko_refuses_the_answer(
    make_app: AppMaker, installed_pki: TestPki, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from signing.certificates import load_certificates, make_crl

    layout = installed_pki.layout
    anna = load_certificates(layout.reko_pem(ANNA.hsa_id))[0]
    crl_path = tmp_path / "revoked.crl"
    crl_path.write_bytes(make_crl(installed_pki.ca, revoked=[anna]).public_bytes(Encoding.PEM))
    app = make_app(CRLS=[str(crl_path)])
    client = app.test_client()
    with app.app_context():
        tokens = parties()
        inquiry_id = submit_api(client, tokens.sender)
        response = post_answer(client, tokens.reko, inquiry_id,
                               signed_answer(installed_pki, inquiry_id))
        assert response.status_code == 422, response.get_data(as_text=True)
        assert "P3" in {issue["typeCode"] for issue in response.get_json()["eventIssues"]}
        assert "answered" not in leg_kinds(inquiry_id)
