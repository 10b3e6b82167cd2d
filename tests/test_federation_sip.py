"""SIP between two gateways in one process (DESIGN 5.8 over 7): an invitation to a VC the
region's gateway serves passes the municipality's intake, crosses as an SDK message in an XHE
exactly as a hälsoförfrågan does, enters the region's intake (channel sdk-peer) and is routed
and notified there; each reply of the REKO travels back with refToMessageId and is recorded at
the municipality's gateway as `replied` with the same decision and time. Refusals first."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from forms.dates import stockholm_today
from forms.sip import parse_sip_kallelse
from gateway.auth.clients import SDK_SCOPES
from gateway.db import get_session, utcnow
from gateway.directory.models import CareUnit
from gateway.federation.models import FederationEnvelope
from gateway.inquiries import sip
from gateway.inquiries.models import FormType, Inquiry, LegKind, SipMeeting
from gateway.mail.sink import MailSink
from tests.conftest import BACKENDS
from tests.support.digg import needs_sdk, needs_xmllint
from tests.support.federation import Pair, two_gateways
from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE
from tests.support.intake import bearer, new_client
from tests.support.pdfs import plain_pdf
from tests.support.sdk import MESSAGES, message_body
from tests.support.sip import sip_kallelse, sip_svar
from tests.test_federation import (
    inquiry_at,
    kinds,
    legs,
    only,
    opened_as_digg_and_xmlsec1_would,
    reasons,
    sent_bytes,
)
from tests.test_sdkapi_sip import reply_body

NEW_TIME = "2026-12-20T10:00:00+01:00"


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path, pki_template: Path) -> Iterator[Pair]:
    with MailSink() as sink:
        # The region's REKOs are told by mail, as for any invitation there.
        yield from two_gateways(request.param, tmp_path, pki_template,
                                SMTP_RELAY=f"127.0.0.1:{sink.port}")


def client(app: Any, organisation: str, address: str) -> str:
    with app.app_context():
        return new_client(get_session(), organisation=organisation, addresses=(address,),
                          scopes=tuple(SDK_SCOPES))


def invite(pair: Pair, sender: str, **overrides: Any) -> str:
    """Send an invitation to Kryddgården (the region's VC) over the municipality's SDK API."""
    xml = sip_kallelse(**overrides)
    response = pair.malmo.test_client().post(
        MESSAGES, json=message_body(xml, label="SIP-kallelse"), headers=bearer(sender))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["meta"]["receipt"]["reference"].startswith("SIP-")
    return parse_sip_kallelse(xml).id


def reply(pair: Pair, reko: str, sip_id: str, **overrides: Any) -> Any:
    """The REKO's system replies at the region's gateway over its SDK API."""
    return pair.skane.test_client().post(
        MESSAGES, json=reply_body(sip_id, sip_svar(sip_id, **overrides)), headers=bearer(reko))


def replied(app: Any, sip_id: str) -> list[tuple[Any, str | None]]:
    return [(leg.at, leg.reason) for leg in legs(app, sip_id) if leg.kind == LegKind.REPLIED]


def test_an_invitation_the_peer_intake_refuses_is_rejected_with_its_rule_codes(
        pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    # The care unit is unknown at the region (listed only at the municipality, say): the peer's
    # intake refuses it as any other, and the REJECTED receipt names why.
    sip_id = invite(pair, sender)
    with pair.skane.app_context():
        session = get_session()
        unit = session.scalars(select(CareUnit).where(
            CareUnit.hsa_id == "SE2321000255-K001")).one()
        unit.connected = False
        session.commit()
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    assert reasons(out) == [("BV", "invariant")]
    assert (out.receipt or {})["reasons"][0]["reason"].startswith("CARE_UNIT_NOT_CONNECTED")
    assert kinds(pair.malmo, sip_id)[-1] == "rejected"
    assert inquiry_at(pair.skane, sip_id) is None


def test_a_reply_the_sender_cannot_take_is_rejected_and_changes_nothing(pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    reko = client(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)
    sip_id = invite(pair, sender)
    pair.run()
    # The sender cancels the meeting before the reply arrives (the outcome stays at home).
    cancelled = pair.malmo.test_client().post(
        f"/api/v1/sip/{sip_id}/outcome", json={"cancelled": "PERSON_CANCELLED"},
        headers=bearer(sender))
    assert cancelled.status_code == 200
    assert reply(pair, reko, sip_id).status_code == 201
    pair.run()
    back = only(pair.envelopes(pair.skane, direction="out", kind="message"))
    assert back.status == "REJECTED"
    assert any("SIP_CLOSED" in r["reason"] for r in (back.receipt or {})["reasons"])
    assert "replied" not in kinds(pair.malmo, sip_id)
    assert kinds(pair.malmo, sip_id)[-1] == "cancelled"


def test_an_invitation_crosses_and_each_reply_comes_back(pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    reko = client(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)
    sip_id = invite(pair, sender)
    routed = legs(pair.malmo, sip_id)[-1]
    assert routed.kind == LegKind.ROUTED and (routed.detail or {})["code"] == "PEER"

    pair.run()

    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    assert (out.xhe_id, out.status) == (sip_id, "ACCEPTED")
    there = inquiry_at(pair.skane, sip_id)
    assert there is not None and there.form_type is FormType.SIP
    assert there.channel == "sdk-peer" and there.reference.startswith("SIP-")
    assert kinds(pair.skane, sip_id) == ["submitted", "received", "routed", "notified"]
    with pair.skane.app_context():
        assert get_session().get(SipMeeting, sip_id) is not None
    # The REKO's system there sees it as an incoming SIP-kallelse, its XML the file.
    seen = pair.skane.test_client().get(f"{MESSAGES}/{sip_id}", headers=bearer(reko))
    assert seen.status_code == 200
    attributes = seen.get_json()["data"]["attributes"]
    assert (attributes["messageStatus"], attributes["label"]) == ("NEW", "SIP-kallelse")
    # The form's XML first; the signed consent form (the form's bilaga) beside it.
    file, consent = attributes["digitalDocument"][0]["contentFiles"]
    assert (file["fileName"], consent["contentType"]) == ("sip.xml", "application/pdf")
    assert parse_sip_kallelse(base64.b64decode(file["content"])).id == sip_id

    # A new proposal, then a yes: each its own message back, the latest decision counts.
    assert reply(pair, reko, sip_id, beslut="NYTT_FORSLAG", ny_tid=NEW_TIME).status_code == 201
    pair.run()
    assert reply(pair, reko, sip_id).status_code == 201
    pair.run()

    back = pair.envelopes(pair.skane, direction="out", kind="message")
    assert [row.status for row in back] == ["ACCEPTED", "ACCEPTED"]
    here, there_replies = replied(pair.malmo, sip_id), replied(pair.skane, sip_id)
    assert [reason for _, reason in here] == ["NYTT_FORSLAG", "KOMMER"]
    assert here == there_replies  # the same decisions at the same moments on both sides
    state = pair.malmo.test_client().get(f"/api/v1/sip/{sip_id}", headers=bearer(sender))
    body = state.get_json()
    assert (body["status"], body["turn"]) == ("replied", "sender")
    assert body["meeting"]["decision"] == "KOMMER"
    # The case system sees both replies as incoming messages answering its invitation.
    listed = pair.malmo.test_client().get(MESSAGES, headers=bearer(sender)).get_json()["data"]
    replies = [m for m in listed if m["attributes"].get("refToMessageId") == sip_id]
    assert [m["attributes"]["messageStatus"] for m in replies] == ["NEW", "NEW"]
    assert {m["id"] for m in replies} == {row.message_id for row in back}


@needs_sdk
@needs_xmllint
def test_the_invitation_and_the_reply_pass_digg_and_xmlsec1(pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    reko = client(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)
    sip_id = invite(pair, sender)
    pair.run()
    opened = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.malmo, sip_id))
    assert b"messagePayload" in opened and b"SIP-kallelse" in opened
    assert reply(pair, reko, sip_id, beslut="KOMMER_INTE").status_code == 201
    pair.run()
    back = only(pair.envelopes(pair.skane, direction="out", kind="message"))
    reopened = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.skane, back.xhe_id),
                                                back=True)
    assert b"refToMessageId" in reopened and sip_id.encode() in reopened
    # The outcome towards the region, too.
    from gateway.federation.outgoing import outcome_message_id

    cancelled = pair.malmo.test_client().post(
        f"/api/v1/sip/{sip_id}/outcome", json={"cancelled": "SENDER_CANCELLED"},
        headers=bearer(sender))
    assert cancelled.status_code == 200
    pair.run()
    told = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.malmo,
                                                             outcome_message_id(sip_id)))
    assert b"application/json" in told
    assert kinds(pair.skane, sip_id)[-1] == "cancelled"


def coming(pair: Pair) -> tuple[str, str, str]:
    """An invitation across and the REKO's yes back; returns the sender's client, the REKO's
    client and the SIP's id."""
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    reko = client(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)
    sip_id = invite(pair, sender)
    pair.run()
    assert reply(pair, reko, sip_id).status_code == 201
    pair.run()
    return sender, reko, sip_id


def test_the_outcome_the_sender_records_reaches_the_region(pair: Pair) -> None:
    from gateway.federation.outgoing import outcome_message_id

    sender, reko, sip_id = coming(pair)
    held = pair.malmo.test_client().post(
        f"/api/v1/sip/{sip_id}/outcome", json={"held_on": stockholm_today().isoformat()},
        headers=bearer(sender))
    assert held.status_code == 200
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out", xhe_id=outcome_message_id(sip_id)))
    assert out.status == "ACCEPTED"
    outcomes = [[(leg.at, leg.detail) for leg in legs(app, sip_id) if leg.kind == LegKind.HELD]
                for app in (pair.malmo, pair.skane)]
    assert len(outcomes[0]) == 1 and outcomes[0] == outcomes[1]
    state = pair.skane.test_client().get(f"/api/v1/sip/{sip_id}", headers=bearer(reko))
    body = state.get_json()
    assert (body["status"], body["turn"]) == ("held", "none")
    assert body["meeting"]["reko_attended"] is True
    # The region never sends an outcome back; a reply after it is refused there.
    assert pair.envelopes(pair.skane, direction="out", kind="message")[-1].message_id != \
        outcome_message_id(sip_id)
    assert reply(pair, reko, sip_id, beslut="KOMMER_INTE").status_code == 409


# --- the plan ---------------------------------------------------------------------------------


def held_and_shared(pair: Pair, sender: str, sip_id: str, pdf: bytes) -> FederationEnvelope:
    """The sender records the meeting as held, then shares the plan over the municipality's
    API, each delivered; returns the plan's envelope there."""
    from gateway.federation.outgoing import plan_message_id

    held = pair.malmo.test_client().post(
        f"/api/v1/sip/{sip_id}/outcome", json={"held_on": stockholm_today().isoformat()},
        headers=bearer(sender))
    assert held.status_code == 200, held.get_data(as_text=True)
    pair.run()
    shared = pair.malmo.test_client().post(
        f"/api/v1/sip/{sip_id}/plan", data=pdf, content_type="application/pdf",
        headers=bearer(sender))
    assert shared.status_code == 201, shared.get_data(as_text=True)
    pair.run()
    message_id = plan_message_id(sip_id, hashlib.sha256(pdf).hexdigest())
    return only(pair.envelopes(pair.malmo, direction="out", xhe_id=message_id))


def plan_rows(app: Any, sip_id: str) -> list[tuple[Any, str]]:
    return [(leg.at, (leg.detail or {})["sha256"]) for leg in legs(app, sip_id)
            if leg.kind == LegKind.PLAN_SHARED]


def test_a_plan_for_an_invitation_the_peer_does_not_know_is_rejected(pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    sip_id = invite(pair, sender)
    with pair.skane.app_context():  # the region refuses the invitation itself
        session = get_session()
        session.scalars(select(CareUnit).where(
            CareUnit.hsa_id == "SE2321000255-K001")).one().connected = False
        session.commit()
    pair.run()
    out = held_and_shared(pair, sender, sip_id, plain_pdf(text="SIP-plan"))
    assert reasons(out) == [("BV", "not-found")]
    assert inquiry_at(pair.skane, sip_id) is None
    assert len(plan_rows(pair.malmo, sip_id)) == 1  # shared here all the same


def test_a_plan_for_a_meeting_not_held_at_the_peer_is_rejected_with_its_rule_code(
        pair: Pair) -> None:
    sender = client(pair.malmo, MALMO, EBB_OSTER)
    sip_id = invite(pair, sender)
    pair.run()
    # At the region the meeting is closed otherwise before the sender's outcome arrives (so
    # the outcome is refused there, SIP_CLOSED), and the plan after it finds it not held.
    with pair.skane.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, sip_id)
        assert inquiry is not None
        sip.record_outcome(session, inquiry, {"cancelled": "PERSON_CANCELLED"},
                           actor="system:test", now=utcnow())
        session.commit()
    out = held_and_shared(pair, sender, sip_id, plain_pdf(text="SIP-plan"))
    assert reasons(out) == [("BV", "invariant")]
    assert (out.receipt or {})["reasons"][0]["reason"].startswith("SIP_NOT_HELD")
    assert plan_rows(pair.skane, sip_id) == []
    with pair.skane.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, sip_id)
        assert inquiry is not None and sip.plan_of(session, inquiry) is None


def held_with_plan(pair: Pair) -> tuple[str, str, bytes, FederationEnvelope]:
    """An invitation across, the REKO's yes, the meeting held and its plan shared at the
    municipality, all delivered; returns the REKO's client, the SIP's id, the plan and its
    envelope."""
    sender, reko, sip_id = coming(pair)
    pdf = plain_pdf(text="SIP-plan")
    return reko, sip_id, pdf, held_and_shared(pair, sender, sip_id, pdf)


def test_the_plan_the_sender_shares_reaches_the_region(pair: Pair) -> None:
    reko, sip_id, pdf, out = held_with_plan(pair)
    assert (out.status, out.message_id) == ("ACCEPTED", out.xhe_id)
    # The same plan at the same moment on both sides, shared there by the sender's
    # organisation over the SDK.
    here, there = plan_rows(pair.malmo, sip_id), plan_rows(pair.skane, sip_id)
    assert len(here) == 1 and here == there
    assert there[0][1] == hashlib.sha256(pdf).hexdigest()
    shared = [leg for leg in legs(pair.skane, sip_id) if leg.kind == LegKind.PLAN_SHARED][0]
    assert (shared.detail or {})["channel"] == "sdk-peer"
    assert shared.actor == f"peer:{MALMO}"
    with pair.skane.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, sip_id)
        assert inquiry is not None
        assert sip.plan_pdf(session, inquiry, actor="user:anna", purpose="ta del av SIP-plan",
                            channel="web") == pdf
    state = pair.skane.test_client().get(f"/api/v1/sip/{sip_id}", headers=bearer(reko))
    assert state.get_json()["legs"][-1]["kind"] == "plan_shared"
    # The region never sends the plan back: only the REKO's reply left it.
    assert len(pair.envelopes(pair.skane, direction="out", kind="message")) == 1


@needs_sdk
@needs_xmllint
def test_the_plan_passes_digg_and_xmlsec1(pair: Pair) -> None:
    _, sip_id, pdf, out = held_with_plan(pair)
    told = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.malmo, out.xhe_id))
    assert b"application/pdf" in told and b"SIP-plan" in told
    assert b"refToMessageId" in told and sip_id.encode() in told
    assert base64.b64encode(pdf) in told
