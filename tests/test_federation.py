"""Federation between two gateways in one process (DESIGN 7): the municipality's gateway sends
a hälsoförfrågan to a VC the region's gateway serves, and the signed answer travels back; every
refusal gets a REJECTED receipt; a peer that is down gets the envelope later, once."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import select, update

from gateway.db import get_session, utcnow
from gateway.directory.models import FunctionalAddress, Organisation
from gateway.federation.models import FederationEnvelope
from gateway.federation.outgoing import OVERDUE_JOB, envelope_bytes, seal_message
from gateway.federation.peers import encryption_key
from gateway.inquiries.models import Inquiry, Leg, LegKind
from gateway.jobs.models import Job
from gateway.jobs.service import enqueue
from signing.devpki import PkiLayout
from signing.xmlenvelope import decrypt_payload, verify_envelope
from tests.conftest import BACKENDS
from tests.support.digg import digg_xhe, needs_sdk, needs_xmllint
from tests.support.federation import MALMO_ENDPOINT, SKANE_ENDPOINT, Pair, two_gateways
from tests.support.forms import (
    CONSENT_PDF,
    EBB_NORR,
    EBB_OSTER,
    KRYDDGARDEN,
    KRYDDGARDEN_ADDRESS,
    MALMO,
    SKANE,
    TOLVAN,
    halsoforfragan,
)
from tests.support.intake import bearer, new_client
from tests.support.pdfs import TestPki
from tests.support.reko import signed_answer

XMLSEC1 = shutil.which("xmlsec1")


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path, pki_template: Path) -> Iterator[Pair]:
    yield from two_gateways(request.param, tmp_path, pki_template)


def token(app: Flask, organisation: str, address: str) -> str:
    with app.app_context():
        return new_client(get_session(), organisation=organisation, addresses=(address,))


def send_inquiry(pair: Pair, **overrides: Any) -> str:
    """Submit a hälsoförfrågan to Kryddgården (the region's VC) at the municipality's gateway."""
    response = pair.malmo.test_client().post(
        "/api/v1/inquiries", data=halsoforfragan(**overrides), content_type="application/xml",
        headers=bearer(token(pair.malmo, MALMO, EBB_OSTER)),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def legs(app: Flask, inquiry_id: str) -> list[Leg]:
    with app.app_context():
        session = get_session()
        rows = list(session.scalars(select(Leg).where(Leg.inquiry_id == inquiry_id)
                                    .order_by(Leg.id)))
        session.expunge_all()
        return rows


def kinds(app: Flask, inquiry_id: str) -> list[str]:
    return [leg.kind.value for leg in legs(app, inquiry_id)]


def inquiry_at(app: Flask, inquiry_id: str) -> Inquiry | None:
    with app.app_context():
        session = get_session()
        found = session.get(Inquiry, inquiry_id)
        session.expunge_all()
        return found


def sent_bytes(app: Flask, xhe_id: str) -> bytes:
    with app.app_context():
        row = get_session().scalars(select(FederationEnvelope).where(
            FederationEnvelope.xhe_id == xhe_id, FederationEnvelope.direction == "out"
        )).one()
        return envelope_bytes(row)


def post_envelope(app: Flask, data: bytes) -> Any:
    return app.test_client().post("/ap/v1/envelopes", data=data, content_type="application/xml")


def only(rows: list[FederationEnvelope]) -> FederationEnvelope:
    assert len(rows) == 1, [(r.direction, r.kind, r.status) for r in rows]
    return rows[0]


def held_back(pair: Pair) -> str:
    """Send an inquiry while the region's access point is down; return the inquiry id."""
    pair.transport.down.add(SKANE_ENDPOINT)
    inquiry_id = send_inquiry(pair)
    pair.run()
    pair.transport.down.clear()
    return inquiry_id


def sent_and_received(pair: Pair) -> tuple[str, FederationEnvelope]:
    """Send an inquiry across; return its id and the region's row for the envelope."""
    inquiry_id = send_inquiry(pair)
    pair.run()
    return inquiry_id, only(pair.envelopes(pair.skane, direction="in", xhe_id=inquiry_id))


def rename_address(app: Flask, old: str, new: str) -> None:
    with app.app_context():
        session = get_session()
        session.execute(update(FunctionalAddress).where(FunctionalAddress.address == old)
                        .values(address=new))
        session.commit()


def reasons(row: FederationEnvelope) -> list[tuple[str, str]]:
    assert row.receipt is not None and row.receipt["code"] == "REJECTED", row.receipt
    return [(r["code"], r["detail"]) for r in row.receipt["reasons"]]


# --- the journey ------------------------------------------------------------------------------


def test_inquiry_crosses_and_signed_answer_comes_back(pair: Pair, pki: TestPki) -> None:
    inquiry_id = send_inquiry(pair)
    # Not delivered locally: routed to the peer's functional address, no REKO notified here.
    routed = legs(pair.malmo, inquiry_id)[-1]
    assert routed.kind == LegKind.ROUTED and routed.detail is not None
    assert routed.detail["code"] == "PEER"
    assert routed.detail["functional_address"] == KRYDDGARDEN_ADDRESS

    pair.run()

    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    assert (out.xhe_id, out.peer, out.status) == (inquiry_id, SKANE, "ACCEPTED")
    assert out.receipt == {"code": "ACCEPTED", "reasons": []}
    received = only(pair.envelopes(pair.skane, direction="in", kind="message"))
    assert (received.xhe_id, received.peer, received.status) == (inquiry_id, MALMO, "NEW")
    there = inquiry_at(pair.skane, inquiry_id)
    assert there is not None and there.channel == "sdk-peer"
    assert kinds(pair.skane, inquiry_id)[:3] == ["submitted", "received", "routed"]
    assert legs(pair.skane, inquiry_id)[2].detail["code"] != "PEER"  # type: ignore[index]

    # The REKO answers at the region's gateway; the answer travels back.
    response = pair.skane.test_client().post(
        f"/api/v1/inquiries/{inquiry_id}/answer", data=signed_answer(pki, inquiry_id),
        content_type="application/pdf", headers=bearer(token(pair.skane, SKANE,
                                                             KRYDDGARDEN_ADDRESS)),
    )
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    pair.run()

    answer_out = only(pair.envelopes(pair.skane, direction="out", kind="message"))
    assert answer_out.status == "ACCEPTED"
    assert "answered" in kinds(pair.malmo, inquiry_id)
    answered = [leg.at for app in (pair.malmo, pair.skane) for leg in legs(app, inquiry_id)
                if leg.kind == LegKind.ANSWERED]
    assert len(answered) == 2
    # The same moment on both sides.
    assert answered[0] == answered[1]
    # The case worker fetches it at the municipality's gateway as any answer.
    fetched = pair.malmo.test_client().get(
        f"/api/v1/inquiries/{inquiry_id}/answer",
        headers=bearer(token(pair.malmo, MALMO, EBB_OSTER)),
    )
    assert fetched.status_code == 200
    assert fetched.data == signed_answer_bytes(pair.skane, inquiry_id)


def signed_answer_bytes(app: Flask, inquiry_id: str) -> bytes:
    from gateway.inquiries.answers import answer_for

    with app.app_context():
        stored = answer_for(get_session(), inquiry_id)
        assert stored is not None
        return stored.pdf


def opened_as_digg_and_xmlsec1_would(pair: Pair, data: bytes, back: bool = False) -> bytes:
    """Check an envelope from Malmö to Skåne (`back`: from Skåne to Malmö) as outsiders would:
    DIGG's XHE XSD and schematron, `xmlsec1 --verify` with the sender's certificate, `xmlsec1
    --decrypt` with the recipient's key, and DIGG's message XSD and schematron on the payload;
    return the decrypted XHE."""
    from tests.support import digg

    assert digg_xhe(data).valid, digg_xhe(data)
    if XMLSEC1 is None:
        pytest.skip("xmlsec1 is not installed")
    sender, (recipient, app) = (SKANE, (MALMO, pair.malmo)) if back else (MALMO, (SKANE,
                                                                                   pair.skane))
    layout = PkiLayout.for_instance(app.instance_path)
    folder = Path(app.instance_path)
    (folder / "env.xml").write_bytes(data)
    verify = subprocess.run(
        [XMLSEC1, "--verify", "--pubkey-cert-pem", str(layout.org_cert(sender)),
         str(folder / "env.xml")], capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    decrypt = subprocess.run(
        [XMLSEC1, "--decrypt", "--privkey-pem", str(layout.org_enc_key(recipient)),
         str(folder / "env.xml")], capture_output=True, check=False)
    assert decrypt.returncode == 0, decrypt.stderr
    # xmlsec1 writes the whole XHE with the payload in clear; DIGG's XSD is the payload's.
    [message] = etree.fromstring(decrypt.stdout).xpath("//*[local-name()='messagePayload']")
    payload = folder / "payload.xml"
    payload.write_bytes(etree.tostring(message))
    assert digg.lint_messages([payload])[payload].valid
    assert not digg.message_schematron().failures(payload)
    return bytes(decrypt.stdout)


@needs_sdk
@needs_xmllint
def test_what_the_gateway_sends_passes_digg_and_xmlsec1(pair: Pair) -> None:
    inquiry_id = held_back(pair)
    opened = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.malmo, inquiry_id))
    assert b"messagePayload" in opened and inquiry_id.encode() in opened


# --- refusals ---------------------------------------------------------------------------------


def test_tampered_envelope_is_rejected_sig_and_nothing_is_decrypted(pair: Pair) -> None:
    inquiry_id = held_back(pair)
    data = sent_bytes(pair.malmo, inquiry_id)
    tampered = data.replace(b"<xhb:ContentTypeCode>application/xml",
                            b"<xhb:ContentTypeCode>application/XML", 1)
    assert tampered != data
    assert post_envelope(pair.skane, tampered).status_code == 202
    pair.run()
    row = only(pair.envelopes(pair.skane, direction="in", xhe_id=inquiry_id))
    assert reasons(row) == [("SIG", "security")]
    assert inquiry_at(pair.skane, inquiry_id) is None
    # The sender hears it: its envelope is REJECTED, and the inquiry has a rejected leg.
    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    assert out.status == "REJECTED"
    assert kinds(pair.malmo, inquiry_id)[-1] == "rejected"


def test_envelope_encrypted_to_another_certificate_is_rejected(pair: Pair) -> None:
    with pair.malmo.app_context():
        session = get_session()
        skane = session.get(Organisation, SKANE)
        assert skane is not None
        other = PkiLayout.for_instance(pair.malmo.instance_path).org_enc_cert(MALMO)
        skane.encryption_certificate = other.read_text()
        session.commit()
    inquiry_id, row = sent_and_received(pair)
    assert reasons(row) == [("BV", "security")]
    assert "NOT_FOR_RECIPIENT" in row.receipt["reasons"][0]["reason"]  # type: ignore[index]
    assert inquiry_at(pair.skane, inquiry_id) is None


def test_unknown_functional_address_is_rejected_not_found(pair: Pair) -> None:
    rename_address(pair.skane, KRYDDGARDEN_ADDRESS, "sdk:reko-ny:0203:skane.se")
    inquiry_id, row = sent_and_received(pair)
    assert reasons(row) == [("BV", "not-found")]
    assert only(pair.envelopes(pair.malmo, direction="out", kind="message")).status == "REJECTED"


def test_access_point_refuses_only_what_is_not_an_xhe(pair: Pair) -> None:
    assert post_envelope(pair.skane, b"not xml").status_code == 400
    wrong_root = post_envelope(pair.skane, b"<?xml version='1.0'?><a/>")
    assert wrong_root.status_code == 400
    assert wrong_root.get_json()["type"].endswith(":ENVELOPE_NOT_XHE")
    pair.skane.config["AP_MAX_BYTES"] = 1000
    assert post_envelope(pair.skane, b"<x>" + b" " * 2000 + b"</x>").status_code == 413
    with pair.skane.app_context():
        assert get_session().scalars(select(FederationEnvelope)).all() == []
    # The web process serves no envelopes.
    pair.skane.config["AP_LISTENER"] = False
    assert post_envelope(pair.skane, b"<x/>").status_code == 404


def test_same_envelope_twice_is_processed_once_and_gets_the_same_receipt(pair: Pair) -> None:
    inquiry_id = held_back(pair)
    data = sent_bytes(pair.malmo, inquiry_id)
    assert post_envelope(pair.skane, data).status_code == 202
    pair.run()
    assert post_envelope(pair.skane, data).status_code == 202
    pair.run()
    receipts = [body for endpoint, body in pair.transport.posted
                if endpoint != SKANE_ENDPOINT]
    assert len(receipts) == 2 and receipts[0] == receipts[1]
    assert only(pair.envelopes(pair.skane, direction="in", kind="message")).status == "NEW"
    with pair.skane.app_context():
        assert len(get_session().scalars(select(Inquiry)).all()) == 1


def test_another_envelope_with_a_known_message_id_is_rejected_duplicate(pair: Pair) -> None:
    inquiry_id = held_back(pair)
    data = sent_bytes(pair.malmo, inquiry_id)
    assert post_envelope(pair.skane, data).status_code == 202
    pair.run()
    # The same message in a new envelope: an XHE ID that is another string for the same UUID.
    with pair.skane.app_context():
        verified = verify_envelope(data, _cert(pair.skane, MALMO))
        payload = decrypt_payload(verified, encryption_key(SKANE))
    with pair.malmo.app_context():
        again = seal_message(get_session(), payload, sender=MALMO, recipient=SKANE,
                             functional_address=KRYDDGARDEN_ADDRESS,
                             xhe_id=inquiry_id.upper())
    assert post_envelope(pair.skane, again).status_code == 202
    pair.run()
    row = only(pair.envelopes(pair.skane, direction="in", xhe_id=inquiry_id.upper()))
    assert reasons(row) == [("BV", "duplicate")]


def _cert(app: Flask, org: str) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(
        PkiLayout.for_instance(app.instance_path).org_cert(org).read_bytes()
    )


# --- delivery ---------------------------------------------------------------------------------


def sdk_status(pair: Pair, message_id: str) -> str:
    """The message's status on the sender's SDK message API (B1.4.2)."""
    response = pair.malmo.test_client().get(
        f"/v1/sdk/messages/{message_id}", headers=bearer(token(pair.malmo, MALMO, EBB_OSTER)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["data"]["attributes"]["messageStatus"])


def test_peer_down_is_resent_later_once_and_accepted(pair: Pair) -> None:
    pair.transport.down.add(SKANE_ENDPOINT)
    inquiry_id = send_inquiry(pair)
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out"))
    assert (out.status, out.attempts) == ("SCHEDULED_FOR_RESEND", 1)
    assert sdk_status(pair, inquiry_id) == "SCHEDULED_FOR_RESEND"
    assert out.next_attempt_at is not None
    assert out.next_attempt_at - utcnow() <= dt.timedelta(seconds=30)
    assert inquiry_at(pair.skane, inquiry_id) is None

    pair.transport.down.clear()
    pair.run()  # not due yet
    assert only(pair.envelopes(pair.malmo, direction="out")).attempts == 1
    pair.run(now=utcnow() + dt.timedelta(seconds=31))
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    assert (out.status, out.attempts) == ("ACCEPTED", 2)
    assert sdk_status(pair, inquiry_id) == "ACCEPTED"
    assert [e for e, _ in pair.transport.posted].count(SKANE_ENDPOINT) == 1
    assert inquiry_at(pair.skane, inquiry_id) is not None


def test_peer_unreachable_past_the_give_up_time_is_an_exchange_error(pair: Pair) -> None:
    pair.transport.down.add(SKANE_ENDPOINT)
    send_inquiry(pair)
    pair.run()
    with pair.malmo.app_context():
        session = get_session()
        session.execute(update(FederationEnvelope).values(
            created=utcnow() - dt.timedelta(hours=25)))
        session.commit()
    pair.run(now=utcnow() + dt.timedelta(minutes=1))
    out = only(pair.envelopes(pair.malmo, direction="out"))
    assert (out.status, out.attempts) == ("MESSAGE_EXCHANGE_ERROR", 2)
    with pair.malmo.app_context():
        pending = get_session().scalars(select(Job).where(
            Job.kind == "federation.deliver", Job.state == "pending")).all()
        assert pending == []


def test_no_receipt_within_the_give_up_time_is_an_exchange_error(pair: Pair) -> None:
    pair.transport.down.add(MALMO_ENDPOINT)  # the region's receipt cannot come back
    send_inquiry(pair)
    pair.run()
    assert only(pair.envelopes(pair.malmo, direction="out")).status == "WAITING_FOR_RECEIPT"
    with pair.malmo.app_context():
        session = get_session()
        session.execute(update(FederationEnvelope).values(
            created=utcnow() - dt.timedelta(hours=25)))
        enqueue(session, OVERDUE_JOB, {})
        session.commit()
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out"))
    assert (out.status, out.receipt) == ("MESSAGE_EXCHANGE_ERROR", None)


def test_directory_admin_sees_envelopes_without_content(pair: Pair) -> None:
    from gateway.auth.models import Role
    from tests.support.web import logged_in_browser

    inquiry_id = send_inquiry(pair)
    pair.run()
    with pair.malmo.app_context():
        browser = logged_in_browser(pair.malmo, "katalog", Role.DIRECTORY_ADMIN)
        page = browser.get("/katalog/kuvert")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert inquiry_id in html and "Accepterat" in html and "Kvittens" in html
    assert "Tolvan" not in html and "191212121212" not in html


def test_inquiry_the_peer_intake_refuses_is_rejected_with_its_rule_codes(pair: Pair) -> None:
    from gateway.inquiries.models import IntakeRejection

    # The region's directory no longer knows the sender unit's address.
    rename_address(pair.skane, EBB_OSTER, "sdk:ebb-nedlagd:0203:malmo.se")
    inquiry_id, row = sent_and_received(pair)
    assert reasons(row) == [("BV", "invariant")]
    assert row.receipt is not None
    assert row.receipt["reasons"][0]["reason"].startswith("SENDER_NOT_ALLOWED")
    assert inquiry_at(pair.skane, inquiry_id) is None
    with pair.skane.app_context():
        rejected = get_session().scalars(select(IntakeRejection)).all()
        assert [(r.channel, r.codes) for r in rejected] == [("sdk-peer", ["SENDER_NOT_ALLOWED"])]
    assert only(pair.envelopes(pair.malmo, direction="out", kind="message")).status == "REJECTED"
    assert kinds(pair.malmo, inquiry_id)[-1] == "rejected"


def test_tampered_receipt_is_refused_without_a_receipt_back(pair: Pair) -> None:
    pair.transport.down.add(MALMO_ENDPOINT)  # the region's receipt waits
    inquiry_id = send_inquiry(pair)
    pair.run()
    receipt = only(pair.envelopes(pair.skane, direction="out", kind="receipt"))
    data = sent_bytes(pair.skane, receipt.xhe_id)
    tampered = data.replace(b">ACCEPTED<", b">REJECTED<", 1)
    assert tampered != data
    posted = len(pair.transport.posted)
    assert post_envelope(pair.malmo, tampered).status_code == 202
    pair.run()
    row = only(pair.envelopes(pair.malmo, direction="in"))
    assert (row.kind, row.status) == ("receipt", "REJECTED")
    assert reasons(row) == [("SIG", "security")]
    assert [e for e, _ in pair.transport.posted[posted:]] == []
    out = only(pair.envelopes(pair.malmo, direction="out"))
    assert (out.xhe_id, out.status) == (inquiry_id, "WAITING_FOR_RECEIPT")


def test_sdk_api_send_keeps_its_conversation_and_label_across(pair: Pair) -> None:
    import uuid

    from tests.support.sdk import MESSAGES, message_body

    conversation = str(uuid.uuid4())
    xml = halsoforfragan()
    sent = pair.malmo.test_client().post(
        MESSAGES, json=message_body(xml, conversationId=conversation, label="Förfrågan 12"),
        headers=bearer(token(pair.malmo, MALMO, EBB_OSTER)))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    message_id = sent.get_json()["data"]["id"]
    pair.run()
    there = pair.skane.test_client().get(
        f"{MESSAGES}/{message_id}",
        headers=bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)))
    assert there.status_code == 200, there.get_data(as_text=True)
    attributes = there.get_json()["data"]["attributes"]
    assert (attributes["conversationId"], attributes["label"]) == (conversation, "Förfrågan 12")
    assert attributes["messageStatus"] == "NEW"


def test_sdk_api_send_under_its_own_message_id_shows_the_peer_status(pair: Pair) -> None:
    import uuid

    from tests.support.sdk import MESSAGES, form_id, message_body

    own_id = str(uuid.uuid4())
    xml = halsoforfragan()
    headers = bearer(token(pair.malmo, MALMO, EBB_OSTER))
    sent = pair.malmo.test_client().post(
        MESSAGES, json=message_body(xml, messageId=own_id, label="Förfrågan 13"),
        headers=headers)
    assert sent.status_code == 201, sent.get_data(as_text=True)
    assert sent.get_json()["data"]["id"] == own_id

    def status() -> str:
        here = pair.malmo.test_client().get(f"{MESSAGES}/{own_id}", headers=headers)
        assert here.status_code == 200, here.get_data(as_text=True)
        return str(here.get_json()["data"]["attributes"]["messageStatus"])

    pair.transport.down.add(SKANE_ENDPOINT)
    pair.run()
    assert status() == "SCHEDULED_FOR_RESEND"
    pair.transport.down.clear()
    pair.run(now=utcnow() + dt.timedelta(seconds=31))
    pair.run()
    assert status() == "ACCEPTED"
    # The peer keeps the message as it came, its label with it.
    there = pair.skane.test_client().get(
        f"{MESSAGES}/{form_id(xml)}",
        headers=bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)))
    assert there.status_code == 200, there.get_data(as_text=True)
    assert there.get_json()["data"]["attributes"]["label"] == "Förfrågan 13"


# --- the operator's commands ------------------------------------------------------------------


def federation_cli(app: Flask, *args: str) -> Any:
    """Run `gateway federation …` against the app's instance and database, as an operator."""
    from click.testing import CliRunner

    from gateway.federation.cli import federation_group

    env = {"GATEWAY_INSTANCE_PATH": app.instance_path,
           "GATEWAY_DATABASE_URL": app.config["DATABASE_URL"],
           "GATEWAY_SECRET_KEY": app.config["SECRET_KEY"]}
    result = CliRunner().invoke(federation_group, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_federation_list_and_show_in_plain_text(pair: Pair) -> None:
    inquiry_id = send_inquiry(pair)
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out"))
    receipt = only(pair.envelopes(pair.malmo, direction="in"))

    listed = federation_cli(pair.malmo, "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        f"{out.created:%Y-%m-%d %H:%M:%S} out message {inquiry_id} {SKANE} ACCEPTED "
        "receipt=ACCEPTED attempts=1",
        f"{receipt.created:%Y-%m-%d %H:%M:%S} in  receipt {receipt.xhe_id} {SKANE} NEW "
        "receipt=ACCEPTED attempts=0",
    ]

    shown = federation_cli(pair.malmo, "show", inquiry_id)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {
        "id": inquiry_id, "direction": "out", "kind": "message", "peer": SKANE,
        "message_id": inquiry_id, "status": "ACCEPTED",
        "receipt": {"code": "ACCEPTED", "reasons": []}, "attempts": 1,
        "created": out.created.isoformat(),
    }
    xml = federation_cli(pair.malmo, "show", inquiry_id, "--xml")
    assert xml.exit_code == 0
    assert xml.stdout_bytes == sent_bytes(pair.malmo, inquiry_id)

    missing = federation_cli(pair.malmo, "show", "okänt-id")
    assert missing.exit_code != 0 and "no envelope okänt-id" in missing.output
    assert "Tolvan" not in listed.stdout + shown.stdout


# --- the signed consent form ------------------------------------------------------------------

CONSENT = b"%PDF-1.4\n% signerad samtyckesblankett (test)\n%%EOF\n"


def test_the_signed_consent_form_crosses_as_a_second_file(pair: Pair) -> None:
    from gateway.auth.models import Role
    from tests.support.reko import ANNA
    from tests.support.sdk import MESSAGES, message_body
    from tests.support.web import logged_in_browser

    xml = halsoforfragan()
    body = message_body(xml)
    body["data"]["attributes"]["digitalDocument"][0]["contentFiles"].append(
        {"fileName": "samtycke-tolvan.pdf", "contentType": "application/pdf",
         "content": base64.b64encode(CONSENT).decode("ascii")})
    sent = pair.malmo.test_client().post(
        MESSAGES, json=body, headers=bearer(token(pair.malmo, MALMO, EBB_OSTER)))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    inquiry_id = sent.get_json()["data"]["id"]
    pair.run()
    assert only(pair.envelopes(pair.malmo, direction="out")).status == "ACCEPTED"

    # The region's care unit system gets both files; the REKO downloads the consent form.
    there = pair.skane.test_client().get(
        f"{MESSAGES}/{inquiry_id}", headers=bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)))
    files = there.get_json()["data"]["attributes"]["digitalDocument"][0]["contentFiles"]
    assert [(f["fileName"], base64.b64decode(f["content"])) for f in files] == [
        ("halsoforfragan.xml", xml), ("samtycke-tolvan.pdf", CONSENT)]
    with pair.skane.app_context():
        reko = logged_in_browser(pair.skane, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    page = reko.get(f"/inkorg/{inquiry_id}")
    assert page.status_code == 200 and "Signerat samtycke" in page.get_data(as_text=True)
    download = reko.get(f"/inkorg/{inquiry_id}/samtycke.pdf")
    assert download.status_code == 200 and download.data == CONSENT


@pytest.mark.parametrize(("bilaga", "expected"), [
    ("with", [("application/xml", None), ("application/pdf", CONSENT_PDF)]),
    ("without", [("application/xml", None)]),
])
def test_a_forms_bilaga_crosses_as_the_second_file(
    pair: Pair, bilaga: str, expected: list[tuple[str, bytes | None]]
) -> None:
    from tests.support.sdk import MESSAGES

    inquiry_id = send_inquiry(pair) if bilaga == "with" else send_inquiry(pair, bilaga=None)
    pair.run()
    there = pair.skane.test_client().get(
        f"{MESSAGES}/{inquiry_id}", headers=bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)))
    files = there.get_json()["data"]["attributes"]["digitalDocument"][0]["contentFiles"]
    assert [(f["contentType"], None if f["contentType"] == "application/xml"
             else base64.b64decode(f["content"])) for f in files] == expected


# --- the largest envelope ---------------------------------------------------------------------


def largest_message(inquiry_id: str, extra: int = 0) -> bytes:
    """Return an SDK hälsoförfrågan to Kryddgården of SDK's largest size (within 3 bytes, the
    consent file's base64 growing in steps of 4), or `extra` bytes larger (not a valid message
    any more: the builder refuses it)."""
    from forms.sdk.content import Party, inquiry_message
    from forms.sdk.message import build_message
    from forms.sdk.message_rules import MAX_MESSAGE_BYTES

    def built(pdf: bytes) -> bytes:
        return build_message(inquiry_message(
            halsoforfragan(), sender=Party(MALMO, EBB_OSTER),
            recipient=Party(SKANE, KRYDDGARDEN_ADDRESS), message_id=inquiry_id,
            created=utcnow(), consent_pdf=pdf))

    start = b"%PDF-1.4\n"
    smallest = len(built(start))
    room = (MAX_MESSAGE_BYTES - smallest) // 4 * 3
    payload = built(start + b"\0" * room)
    assert MAX_MESSAGE_BYTES - 4 < len(payload) <= MAX_MESSAGE_BYTES
    return payload.replace(b"</tns:messagePayload>",
                           b" " * extra + b"</tns:messagePayload>") if extra else payload


def sealed(app: Flask, payload: bytes, xhe_id: str) -> bytes:
    """Return `payload` sealed by Malmö for Kryddgården as the sending side seals it."""
    with app.app_context():
        return seal_message(get_session(), payload, sender=MALMO, recipient=SKANE,
                            functional_address=KRYDDGARDEN_ADDRESS, xhe_id=xhe_id)


@pytest.mark.slow
def test_access_point_takes_an_envelope_of_sdks_largest_message(pair: Pair) -> None:
    import uuid

    inquiry_id = str(uuid.uuid4())
    data = sealed(pair.malmo, largest_message(inquiry_id), inquiry_id)
    limit = pair.skane.config["AP_MAX_BYTES"]
    # The default limit is the bound of the largest message's envelope, with little to spare.
    assert len(data) <= limit < len(data) + 64 * 1024, (len(data), limit)
    assert post_envelope(pair.skane, data).status_code == 202
    pair.run()
    received = only(pair.envelopes(pair.skane, direction="in", xhe_id=inquiry_id))
    assert received.receipt == {"code": "ACCEPTED", "reasons": []}


def test_access_point_refuses_an_envelope_beyond_sdks_largest_message(pair: Pair) -> None:
    import uuid

    from forms.sdk.xhe import build_xhe, message_header
    from gateway.federation.peers import signing_key
    from signing.xmlenvelope import seal_envelope

    inquiry_id = str(uuid.uuid4())
    payload = largest_message(inquiry_id, extra=64 * 1024)
    header = message_header(sender=MALMO, recipient=SKANE,
                            functional_address=KRYDDGARDEN_ADDRESS, envelope_id=inquiry_id)
    with pair.malmo.app_context():
        root = etree.fromstring(payload, etree.XMLParser(huge_tree=True))
        data = seal_envelope(build_xhe(header, root), signing_key(MALMO),
                             recipient=_cert(pair.malmo, SKANE))
    response = post_envelope(pair.skane, data)
    assert response.status_code == 413
    assert response.get_json()["type"].endswith(":ENVELOPE_TOO_LARGE")
    with pair.skane.app_context():
        assert get_session().scalars(select(FederationEnvelope)).all() == []


# --- consent withdrawal -----------------------------------------------------------------------


def withdraw_at_malmo(pair: Pair, **fields: str) -> str:
    """A case worker at EBB Öster registers that Tolvan withdrew the consent towards
    Kryddgården (a VC the region's gateway serves); return the page it then sees."""
    from gateway.auth.models import Role
    from tests.support.web import logged_in_browser

    with pair.malmo.app_context():
        worker = logged_in_browser(pair.malmo, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
    form = "/samtycke/aterkallat"
    values = {"personnummer": TOLVAN, "care_unit": KRYDDGARDEN,
              "withdrawn_on": utcnow().date().isoformat(), "confirm": "ja", **fields}
    done = worker.submit(form, form, values)
    assert done.status_code == 302, done.get_data(as_text=True)
    return str(worker.get(done.headers["Location"]).get_data(as_text=True))


def audit_actions(app: Flask, action: str) -> list[Any]:
    from gateway.audit.models import AuditEntry

    with app.app_context():
        session = get_session()
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        session.expunge_all()
        return rows


def test_consent_withdrawal_reaches_the_region_closes_there_and_blocks_the_answer(
    pair: Pair, pki: TestPki
) -> None:
    from gateway.inquiries.answers import withdrawals_for

    inquiry_id = send_inquiry(pair)
    # Another unit's inquiry about the same person: its consent is its own.
    norr = pair.malmo.test_client().post(
        "/api/v1/inquiries", data=halsoforfragan(funktionsadress=EBB_NORR),
        content_type="application/xml", headers=bearer(token(pair.malmo, MALMO, EBB_NORR)))
    assert norr.status_code == 201, norr.get_data(as_text=True)
    norr_id = str(norr.get_json()["id"])
    pair.run()

    done = withdraw_at_malmo(pair)
    assert "Återkallelsen är registrerad. 1 öppna förfrågningar" in done
    assert "Återkallelsen skickas också till" in done
    pair.run()

    # One more envelope each way: the withdrawal, and its ACCEPTED receipt.
    [sent] = [row for row in pair.envelopes(pair.malmo, direction="out", kind="message")
              if row.xhe_id not in (inquiry_id, norr_id)]
    assert (sent.peer, sent.status, sent.inquiry_id) == (SKANE, "ACCEPTED", None)
    assert sent.receipt == {"code": "ACCEPTED", "reasons": []}
    received = only(pair.envelopes(pair.skane, direction="in", xhe_id=sent.xhe_id))
    assert (received.status, received.peer, received.inquiry_id) == ("NEW", MALMO, None)
    assert received.message_id == sent.message_id

    # At the region, as at the municipality: EBB Öster's inquiry closed and purged, Norr's open.
    for app in (pair.malmo, pair.skane):
        assert kinds(app, inquiry_id)[-2:] == ["consent_withdrawn", "closed"]
        there = inquiry_at(app, inquiry_id)
        assert there is not None and there.content is None and there.purged_at is not None
        assert "closed" not in kinds(app, norr_id)
    # Audited on both sides, naming only what closed there.
    [here] = audit_actions(pair.malmo, "consent.withdrawn")
    [region] = audit_actions(pair.skane, "consent.withdrawn")
    assert region.actor == f"peer:{MALMO}" and region.object_id == KRYDDGARDEN
    assert region.detail["closed"] == [inquiry_id] == here.detail["closed"]
    # C7 at the region: the withdrawal blocks EBB Öster's inquiries, not Norr's.
    with pair.skane.app_context():
        session = get_session()
        blocked = session.get(Inquiry, inquiry_id)
        assert blocked is not None and withdrawals_for(session, blocked) == [utcnow().date()]
        open_one = session.get(Inquiry, norr_id)
        assert open_one is not None and withdrawals_for(session, open_one) == []
    # The REKO's answer is refused there, and nothing travels back.
    refused = pair.skane.test_client().post(
        f"/api/v1/inquiries/{inquiry_id}/answer", data=signed_answer(pki, inquiry_id),
        content_type="application/pdf",
        headers=bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS)))
    assert refused.status_code in (409, 422), refused.get_data(as_text=True)
    pair.run()
    assert pair.envelopes(pair.skane, direction="out", kind="message") == []
    # Nothing personal is kept for the sending once the envelope is sealed.
    from gateway.inquiries.models import ConsentWithdrawal

    with pair.malmo.app_context():
        [row] = get_session().scalars(select(ConsentWithdrawal)).all()
        assert row.personnummer is None
    with pair.skane.app_context():
        [there_row] = get_session().scalars(select(ConsentWithdrawal)).all()
        assert there_row.personnummer is None and there_row.registered_by == f"peer:{MALMO}"


def withdrawal_envelope(pair: Pair, **changes: Any) -> tuple[str, bytes]:
    """Return the id and envelope of a consent withdrawal from EBB Öster to Kryddgården as
    Malmö's gateway seals it, with `changes` to its notice."""
    import dataclasses
    import uuid

    from forms.sdk.content import Party, withdrawal_message
    from forms.sdk.message import build_message
    from forms.withdrawal import Aterkallelse, build_withdrawal_xml

    message_id = str(uuid.uuid4())
    notice = dataclasses.replace(Aterkallelse(
        id=message_id, registrerad=utcnow(), organisation=MALMO, funktionsadress=EBB_OSTER,
        vardcentral_hsa_id=KRYDDGARDEN, personnummer=TOLVAN, aterkallat=utcnow().date(),
    ), **changes)
    message = withdrawal_message(
        build_withdrawal_xml(notice), sender=Party(MALMO, EBB_OSTER),
        recipient=Party(SKANE, KRYDDGARDEN_ADDRESS), message_id=message_id, created=utcnow())
    return message_id, sealed(pair.malmo, build_message(message), message_id)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"personnummer": "191212121213"}, ("BV", "invariant", "PERSONNUMMER")),
    ({"funktionsadress": EBB_NORR}, ("BV", "not-found", "Avsändarenheten")),
    ({"vardcentral_hsa_id": "SE2321000255-K999"}, ("BV", "not-found", "Vårdcentralen")),
    ({"aterkallat": utcnow().date() + dt.timedelta(days=2)},
     ("BV", "invariant", "WITHDRAWN_ON_INVALID")),
], ids=["check-digit", "another-sender-unit", "unknown-care-unit", "future"])
def test_a_withdrawal_the_region_cannot_register_is_rejected_and_changes_nothing(
    pair: Pair, changes: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    from gateway.inquiries.models import ConsentWithdrawal

    inquiry_id = send_inquiry(pair)
    pair.run()
    message_id, data = withdrawal_envelope(pair, **changes)
    assert post_envelope(pair.skane, data).status_code == 202
    pair.run()
    row = only(pair.envelopes(pair.skane, direction="in", xhe_id=message_id))
    assert row.receipt is not None
    [reason] = row.receipt["reasons"]
    assert (reason["code"], reason["detail"]) == expected[:2]
    assert reason["reason"].startswith(expected[2]), reason
    # The receipt names no inquiry and no person.
    assert inquiry_id not in str(row.receipt) and TOLVAN not in str(row.receipt)
    with pair.skane.app_context():
        assert get_session().scalars(select(ConsentWithdrawal)).all() == []
    assert "closed" not in kinds(pair.skane, inquiry_id)


def test_an_answer_too_large_to_travel_back_is_refused_at_the_region(pair: Pair,
                                                                       pki: TestPki) -> None:
    from forms.sdk.message_rules import largest_file

    inquiry_id = send_inquiry(pair)
    pair.run()
    client = pair.skane.test_client()
    headers = bearer(token(pair.skane, SKANE, KRYDDGARDEN_ADDRESS))
    answer = signed_answer(pki, inquiry_id)
    too_large = answer + b"\n" * (largest_file() - len(answer) + 1)
    refused = client.post(f"/api/v1/inquiries/{inquiry_id}/answer", data=too_large,
                          content_type="application/pdf", headers=headers)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    [issue] = refused.get_json()["eventIssues"]
    assert issue["typeCode"] == "P1" and "30 MB" in issue["detail"]
    assert pair.envelopes(pair.skane, direction="out", kind="message") == []
    # Nothing was kept: the REKO can still answer with the signed PDF as it is.
    accepted = client.post(f"/api/v1/inquiries/{inquiry_id}/answer", data=answer,
                           content_type="application/pdf", headers=headers)
    assert accepted.status_code == 201, accepted.get_data(as_text=True)


@needs_sdk
@needs_xmllint
def test_the_withdrawal_envelope_passes_digg_and_xmlsec1(pair: Pair) -> None:
    withdraw_at_malmo(pair)
    pair.run()
    out = only(pair.envelopes(pair.malmo, direction="out", kind="message"))
    opened = opened_as_digg_and_xmlsec1_would(pair, sent_bytes(pair.malmo, out.xhe_id))
    assert b"samtyckesaterkallelse" in opened
