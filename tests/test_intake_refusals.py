"""The bad-input corpus over HTTP: every refusal of POST /api/v1/inquiries is problem+json with
its status and code, and leaves no inquiry, leg or job behind (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.db import get_session
from gateway.directory.models import CareUnit, FunctionalAddress
from gateway.directory.service import stockholm_today
from gateway.inquiries.models import ConsentWithdrawal, IntakeRejection
from gateway.vault.service import get_vault
from tests.support.forms import (
    AMA,
    EBB_NORR,
    KRYDDGARDEN,
    MALMO,
    NOT_CONNECTED,
    OMIT,
    ROSENGARD,
    TOLVAN,
    UNKNOWN_CARE_UNIT,
    halsoforfragan,
    valid_form,
)
from tests.support.intake import (
    GET,
    SEND,
    counts,
    issue_token,
    load_directory,
    new_client,
    post_xml,
)
from tests.support.pki import install_pki

TODAY = stockholm_today()
DAY = dt.timedelta(days=1)
MIB = 1024 * 1024
UNLISTED_ADDRESS = "sdk:ebb-test:0203:malmo.se"
FIXED_ID = "0b7c9a52-3f0e-4b8e-9a51-6f2d1c0e8a11"


@dataclass
class World:
    """The demo directory, the receipt PKI, and an EBB Öster client with tokens."""

    client: FlaskClient
    tokens: dict[str, str]


@pytest.fixture
def world(app: Flask, client: FlaskClient, instance: Path, pki_template: Path) -> World:
    install_pki(instance, pki_template)
    session = get_session()
    load_directory(session)
    token = new_client(session)
    client_pk = _client_pk(session, token)
    tokens = {
        "ebb": token,
        "get_only": issue_token(session, client_pk, (GET,)),
        "expired": issue_token(session, client_pk, (SEND,), expires_in=-1),
    }
    return World(client, tokens)


def _client_pk(session: Any, token: str) -> int:
    from gateway.auth.models import ApiToken
    from gateway.auth.oauth import token_digest

    found = session.scalar(select(ApiToken).where(ApiToken.token_digest == token_digest(token)))
    return int(found.api_client_id)


# --- setups some rows need ---------------------------------------------------------------------


def withdraw_tolvans_consent(world: World) -> None:
    session = get_session()
    unit = session.scalar(select(CareUnit).where(CareUnit.hsa_id == KRYDDGARDEN))
    assert unit is not None
    session.add(ConsentWithdrawal(
        person_hash=get_vault().keyed_hash(TOLVAN), care_unit_id=unit.id,
        withdrawn_on=TODAY - DAY, registered_by="cli:test",
    ))
    session.commit()


def client_without_sender_unit(world: World) -> None:
    session = get_session()
    session.add(FunctionalAddress(address=UNLISTED_ADDRESS, organisation_id=MALMO))
    session.commit()
    world.tokens["ebb"] = new_client(session, addresses=(UNLISTED_ADDRESS,))


def ama_client(world: World) -> None:
    world.tokens["ebb"] = new_client(get_session(), addresses=(AMA,))


def first_send_of_fixed_id(world: World) -> None:
    response = post_xml(world.client, halsoforfragan(id=FIXED_ID), world.tokens["ebb"])
    assert response.status_code == 201, response.get_data(as_text=True)


# --- the corpus --------------------------------------------------------------------------------


@dataclass
class Bad:
    """One bad request: its body, the expected status and issue code, and how it is sent."""

    body: bytes
    status: int
    code: str
    token: str | None = "ebb"
    content_type: str | None = "application/xml"
    # Whether the intake itself refused it (and so counted it in intake_rejections).
    counted: bool = True
    setup: Callable[[World], None] | None = None
    also: tuple[str, ...] = field(default=())


VALID = halsoforfragan()
DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
BODY = VALID.split(b"\n", 1)[1]


def with_doctype(doctype: bytes, body: bytes = BODY) -> bytes:
    return DECLARATION + doctype + b"\n" + body


XXE = with_doctype(
    b'<!DOCTYPE halsoforfragan [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    BODY.replace(b"<namn>Tolvan Tolvansson</namn>", b"<namn>&xxe;</namn>"),
)
LAUGHS = with_doctype(
    b"<!DOCTYPE halsoforfragan [<!ENTITY a \"lol\">"
    + b"".join(
        b"<!ENTITY " + bytes([98 + i]) + b' "' + (b"&" + bytes([97 + i]) + b";") * 10 + b'">'
        for i in range(9)
    )
    + b"]>",
    BODY.replace(b"<namn>Tolvan Tolvansson</namn>", b"<namn>&j;</namn>"),
)
EXTERNAL_DTD = with_doctype(b'<!DOCTYPE halsoforfragan SYSTEM "http://example.invalid/x.dtd">')
DEEP = VALID.replace(
    b"<bakgrund>", b"<bakgrund>" + b"<x>" * 40 + b"djupt" + b"</x>" * 40, 1
)
PROCESSING_INSTRUCTION = VALID.replace(b"<bakgrund>", b"<?php echo 1; ?><bakgrund>", 1)
MANY_ELEMENTS = halsoforfragan(fragor=tuple(("OVRIGT", f"fråga {i}") for i in range(5200)))
UTF16 = VALID.decode("utf-8").replace("UTF-8", "UTF-16").encode("utf-16")

MISSING = {
    "id": {"id": OMIT},
    "skapad": {"skapad": OMIT},
    "organisation": {"organisation": OMIT},
    "enhet": {"enhet": OMIT},
    "funktionsadress": {"funktionsadress": OMIT},
    "handlaggare-namn": {"handlaggare_namn": OMIT},
    "titel": {"titel": OMIT},
    "handlaggare-telefon": {"handlaggare_telefon": OMIT},
    "epost": {"epost": OMIT},
    "vardcentral": {"vardcentral_namn": OMIT},
    "vardcentral-hsaId": {"vardcentral": OMIT},
    "personnummer": {"personnummer": OMIT},
    "person-namn": {"person_namn": OMIT},
    "givet": {"givet": OMIT},
    "giltigtTill": {"giltigt_till": OMIT},
    "samtycke-form": {"samtycke_form": OMIT},
    "uppgiftslamnare": {"uppgiftslamnare": OMIT},
    "samtycke-mottagare": {"mottagare": OMIT},
    "syfte": {"syfte": OMIT},
    "bakgrund": {"bakgrund": OMIT},
    "fragor": {"fragor": OMIT},
    "fraga": {"fragor": ()},
}

CORPUS: dict[str, Bad] = {
    # -- hostile or unreadable XML
    "xxe": Bad(XXE, 400, "XML_DTD"),
    "entity-expansion": Bad(LAUGHS, 400, "XML_DTD"),
    "external-dtd": Bad(EXTERNAL_DTD, 400, "XML_DTD"),
    "processing-instruction": Bad(PROCESSING_INSTRUCTION, 400, "XML_PI"),
    "deep-nesting": Bad(DEEP, 400, "XML_TOO_DEEP"),
    "too-many-elements": Bad(MANY_ELEMENTS, 400, "XML_TOO_MANY_ELEMENTS"),
    "empty": Bad(b"", 400, "XML_EMPTY"),
    "only-whitespace": Bad(b" \n\t ", 400, "XML_EMPTY"),
    "not-xml": Bad(b"hej, det h\xc3\xa4r \xc3\xa4r ingen XML", 400, "XML_SYNTAX"),
    "json": Bad(b'{"id": "x"}', 400, "XML_SYNTAX"),
    "truncated": Bad(VALID[: len(VALID) // 2], 400, "XML_SYNTAX"),
    "latin-1": Bad(VALID.decode("utf-8").encode("latin-1"), 400, "XML_ENCODING"),
    "utf-16": Bad(UTF16, 400, "XML_ENCODING"),
    "wrong-namespace": Bad(halsoforfragan(namespace="urn:example:annat:1"), 400, "XML_NAMESPACE"),
    "wrong-version": Bad(halsoforfragan(version="2.0"), 400, "VERSION"),
    "no-version": Bad(halsoforfragan(version=OMIT), 400, "VERSION"),
    # -- the schema: each missing element, bad values, unknown codes
    **{f"missing-{name}": Bad(halsoforfragan(**change), 422, "XSD")
       for name, change in MISSING.items()},
    "over-long-bakgrund": Bad(halsoforfragan(bakgrund="å" * 4001), 422, "XSD"),
    "unknown-question-code": Bad(halsoforfragan(fragor=(("HOROSKOP", None),)), 422, "XSD"),
    "unknown-titel": Bad(halsoforfragan(titel="chef"), 422, "XSD"),
    "unknown-consent-form": Bad(halsoforfragan(samtycke_form="digitalt"), 422, "XSD"),
    "unknown-syfte": Bad(halsoforfragan(syfte="FORSKNING"), 422, "XSD"),
    "unknown-consent-recipient": Bad(halsoforfragan(mottagare=("skola",)), 422, "XSD"),
    "id-not-uuid": Bad(halsoforfragan(id="inte-ett-uuid"), 422, "XSD"),
    "impossible-skapad": Bad(halsoforfragan(skapad="2024-02-30T10:00:00+01:00"), 422, "XSD"),
    "skapad-without-zone": Bad(halsoforfragan(skapad="2024-03-01T10:00:00"), 422, "XSD"),
    "impossible-givet": Bad(halsoforfragan(givet="2024-13-01"), 422, "XSD"),
    # -- identifiers and rules beyond the schema
    "personnummer-check-digit": Bad(halsoforfragan(personnummer="191212121213"), 422,
                                    "PERSONNUMMER"),
    "personnummer-impossible-date": Bad(halsoforfragan(personnummer="202302301234"), 422,
                                        "PERSONNUMMER"),
    "personnummer-short": Bad(halsoforfragan(personnummer="1212121212"), 422, "PERSONNUMMER"),
    "malformed-vardcentral-hsa-id": Bad(
        halsoforfragan(vardcentral="SE123-K1", uppgiftslamnare="SE123-K1"), 422, "HSA_ID"
    ),
    "malformed-uppgiftslamnare-hsa-id": Bad(
        halsoforfragan(uppgiftslamnare="XX2321000255-K001"), 422, "HSA_ID"
    ),
    "malformed-organisation-id": Bad(halsoforfragan(organisation="malmo"), 422, "ORG_ID"),
    "address-of-other-organisation": Bad(
        halsoforfragan(funktionsadress="sdk:ebb:0203:lund.se"), 422, "FUNKTIONSADRESS"
    ),
    "ovrigt-without-text": Bad(halsoforfragan(fragor=(("OVRIGT", None),)), 422,
                               "FRAGA_OVRIGT_TEXT"),
    "question-twice": Bad(halsoforfragan(fragor=(("SIP", None), ("SIP", None))), 422,
                          "FRAGA_DUPLICATE"),
    "svar-senast-before-skapad": Bad(
        halsoforfragan(svar_senast=(TODAY - 10 * DAY).isoformat()), 422, "SVAR_SENAST"
    ),
    "attachment-not-pdf": Bad(halsoforfragan(bilaga=b"GIF89a not a pdf"), 422, "BILAGA"),
    # -- consent rules C1-C7
    "c1-consent-after-skapad": Bad(halsoforfragan(givet=(TODAY + 2 * DAY).isoformat()), 422,
                                   "C1"),
    "c2-consent-expired": Bad(
        halsoforfragan(givet=(TODAY - 60 * DAY).isoformat(),
                       giltigt_till=(TODAY - DAY).isoformat()), 422, "C2"
    ),
    "c3-consent-too-long": Bad(halsoforfragan(giltigt_till=(TODAY + 400 * DAY).isoformat()), 422,
                               "C3"),
    "c4-other-care-unit": Bad(halsoforfragan(uppgiftslamnare=ROSENGARD), 422, "C4"),
    "c5-not-for-socialtjanst": Bad(halsoforfragan(mottagare=("arbetsmarknad",)), 422, "C5"),
    "c5-not-for-arbetsmarknad": Bad(
        valid_form(enhet="AMA", funktionsadress=AMA, titel="arbetsmarknadssekreterare",
                   mottagare=("socialtjanst",)).xml(),
        422, "C5", setup=ama_client,
    ),
    "c6-oral-undocumented": Bad(
        halsoforfragan(samtycke_form="muntligt", dokumenterat_av=None), 422, "C6"
    ),
    "c7-consent-withdrawn": Bad(halsoforfragan(), 422, "C7", setup=withdraw_tolvans_consent),
    "c2-and-c6-together": Bad(
        halsoforfragan(givet=(TODAY - 60 * DAY).isoformat(),
                       giltigt_till=(TODAY - DAY).isoformat(),
                       samtycke_form="muntligt", dokumenterat_av=None),
        422, "C2", also=("C6",),
    ),
    # -- the directory
    "unknown-care-unit": Bad(
        halsoforfragan(vardcentral=UNKNOWN_CARE_UNIT, uppgiftslamnare=UNKNOWN_CARE_UNIT), 404,
        "UNKNOWN_CARE_UNIT",
    ),
    "care-unit-not-connected": Bad(
        halsoforfragan(vardcentral=NOT_CONNECTED, uppgiftslamnare=NOT_CONNECTED), 422,
        "CARE_UNIT_NOT_CONNECTED",
    ),
    "sender-unit-not-in-directory": Bad(
        halsoforfragan(funktionsadress=UNLISTED_ADDRESS), 422, "SENDER_UNIT_UNKNOWN",
        setup=client_without_sender_unit,
    ),
    # -- the sender must be the client's
    "other-organisations-sender": Bad(
        halsoforfragan(organisation="0203:lund.se", funktionsadress="sdk:ebb:0203:lund.se"),
        403, "SENDER_NOT_ALLOWED",
    ),
    "other-unit-of-own-organisation": Bad(
        halsoforfragan(funktionsadress=EBB_NORR), 403, "SENDER_NOT_ALLOWED"
    ),
    # -- idempotency
    "same-id-other-content": Bad(
        halsoforfragan(id=FIXED_ID, bakgrund="Annan text."), 409, "ID_CONFLICT",
        setup=first_send_of_fixed_id,
    ),
    # -- the HTTP edge: size, type, token
    "oversize": Bad(b"<" + b"x" * (12 * MIB), 413, "HTTP_413", counted=False),
    "wrong-content-type": Bad(VALID, 415, "UNSUPPORTED_MEDIA_TYPE",
                              content_type="application/json", counted=False),
    "text-plain": Bad(VALID, 415, "UNSUPPORTED_MEDIA_TYPE", content_type="text/plain",
                      counted=False),
    "no-content-type": Bad(VALID, 415, "UNSUPPORTED_MEDIA_TYPE", content_type=None,
                           counted=False),
    "no-token": Bad(VALID, 401, "TOKEN_MISSING", token=None, counted=False),
    "expired-token": Bad(VALID, 401, "TOKEN_EXPIRED", token="expired", counted=False),
    "unknown-token": Bad(VALID, 401, "TOKEN_INVALID", token="unknown", counted=False),
    "malformed-token": Bad(VALID, 401, "TOKEN_MALFORMED", token="malformed", counted=False),
    "wrong-scope": Bad(VALID, 403, "INSUFFICIENT_SCOPE", token="get_only", counted=False),
}

RAW_TOKENS = {"unknown": "x" * 43, "malformed": "inte en token!"}


def _send(world: World, bad: Bad) -> Any:
    token = world.tokens.get(bad.token or "", RAW_TOKENS.get(bad.token or ""))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"data": bad.body, "headers": headers}
    if bad.content_type:
        kwargs["content_type"] = bad.content_type
    return world.client.post("/api/v1/inquiries", **kwargs)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_is_refused_cleanly(world: World, name: str) -> None:
    bad = CORPUS[name]
    if bad.setup:
        bad.setup(world)
    session = get_session()
    before = counts(session)
    session.commit()

    response = _send(world, bad)

    text = response.get_data(as_text=True)
    assert response.status_code == bad.status, text
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == bad.status
    codes = [issue["typeCode"] for issue in body["eventIssues"]]
    assert bad.code in codes, codes
    assert set(bad.also) <= set(codes), codes
    for personal in ("Traceback", TOLVAN, "Tolvan", "Åsa Lindqvist"):
        assert personal not in text
    after = counts(get_session())
    assert (after.inquiries, after.legs, after.jobs) == (
        before.inquiries, before.legs, before.jobs
    ), "a refused inquiry left rows behind"
    assert after.rejections == before.rejections + (1 if bad.counted else 0)


def test_an_oversize_streamed_body_is_413_not_cut_short(world: World) -> None:
    # Without Content-Length (chunked), the limit must still refuse, not truncate.
    response = world.client.post(
        "/api/v1/inquiries",
        input_stream=io.BytesIO(VALID + b" " * (12 * MIB)),
        headers={"Authorization": f"Bearer {world.tokens['ebb']}",
                 "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
        content_type="application/xml",
    )
    assert response.status_code == 413
    assert counts(get_session()).inquiries == 0


def test_xml_errors_name_the_line_and_element(world: World) -> None:
    response = post_xml(world.client, halsoforfragan(personnummer="191212121213"),
                        world.tokens["ebb"])
    issue = response.get_json()["eventIssues"][0]
    assert issue["typeCode"] == "PERSONNUMMER"
    assert issue["in"].startswith("/halsoforfragan/person/personnummer, rad ")


def test_every_failed_consent_rule_is_one_issue_with_its_place(world: World) -> None:
    data = CORPUS["c2-and-c6-together"].body
    body = post_xml(world.client, data, world.tokens["ebb"]).get_json()
    assert body["type"] == "urn:kryddgarden:problem:CONSENT_INVALID"
    issues = {i["typeCode"]: i for i in body["eventIssues"]}
    assert set(issues) == {"C2", "C6"}
    assert issues["C2"]["in"].startswith("/halsoforfragan/samtycke/giltigtTill, rad ")


def test_a_rejection_row_holds_no_content_and_no_form_id(world: World) -> None:
    data = halsoforfragan(id=FIXED_ID, personnummer="191212121213")
    post_xml(world.client, data, world.tokens["ebb"])
    rows = list(get_session().scalars(select(IntakeRejection)))
    assert [(r.channel, r.organisation, r.codes) for r in rows] == [
        ("api", MALMO, ["PERSONNUMMER"])
    ]
    assert FIXED_ID not in repr(vars(rows[0]))


def test_a_not_connected_care_unit_is_refused_with_its_contact(world: World) -> None:
    data = CORPUS["care-unit-not-connected"].body
    body = post_xml(world.client, data, world.tokens["ebb"]).get_json()
    assert body["care_unit"]["hsa_id"] == NOT_CONNECTED
    assert "040-00 00 90" in body["care_unit"]["contact"]
    assert body["eventIssues"][0]["in"] == "/halsoforfragan/mottagare/vardcentral/@hsaId"


def test_another_organisations_sender_is_audited_as_denied(world: World) -> None:
    post_xml(world.client, CORPUS["other-organisations-sender"].body, world.tokens["ebb"])
    denied = get_session().scalars(
        select(AuditEntry).where(AuditEntry.action == "inquiry.submit")
    ).all()
    assert [(e.outcome, e.detail["reason"]) for e in denied] == [("denied", "SENDER_NOT_ALLOWED")]


def test_a_receipt_key_missing_is_a_clear_503_and_stores_nothing(
    world: World, instance: Path
) -> None:
    for path in (instance / "pki" / "org").glob("0203_skane.se*"):
        path.unlink()
    response = post_xml(world.client, halsoforfragan(), world.tokens["ebb"])
    assert response.status_code == 503
    body = response.get_json()
    assert body["eventIssues"][0]["typeCode"] == "RECEIPT_KEY_MISSING"
    assert "gateway pki init" in body["detail"]
    assert counts(get_session()).inquiries == 0
    ready = world.client.get("/readyz").get_json()
    assert ready["checks"]["receipts"]["ok"] is False


def test_a_flood_of_faults_lists_the_first_fifty_and_counts_the_rest(world: World) -> None:
    # 100,000 stray attributes once gave a 21 MB problem after 8 s.
    stray = b"".join(b' x%d="1"' % n for n in range(100_000))
    flooded = VALID.replace(b"<halsoforfragan ", b"<halsoforfragan" + stray + b" ", 1)
    assert len(flooded) > len(VALID) + 100_000
    response = post_xml(world.client, flooded, world.tokens["ebb"])
    assert response.status_code == 422
    body = response.get_json()
    assert len(body["eventIssues"]) == 50
    assert body["eventIssueCount"] == 100_000
    assert len(response.get_data()) < 64 * 1024
    assert "och 99995 fel till" in body["detail"]
