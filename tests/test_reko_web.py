"""The REKO's web pages and the case worker's answer actions: inbox order and deadline texts,
scope (another VC's REKO gets 404 and an audit denial), opened once and audited once a session,
upload, composer (download and sign in the browser flow), registered, consent withdrawal."""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.errors import GatewayError
from gateway.inquiries.answers import answer_for
from gateway.inquiries.intake import submit
from gateway.inquiries.models import AnswerDraft, ConsentWithdrawal, Inquiry, SigningRequest
from signing.devpki import Person
from tests.conftest import AppMaker
from tests.support.forms import (
    EBB_OSTER,
    KRYDDGARDEN,
    ROSENGARD,
    TOLVAN,
    halsoforfragan,
    nth_personnummer,
)
from tests.support.holder import chain_of, sign_with
from tests.support.pdfs import TestPki, plain_pdf, sign
from tests.support.reko import (
    ANNA,
    CECILIA,
    SUBMITTER,
    Parties,
    leg_kinds,
    parties,
    received_days_ago,
    signed_answer,
)
from tests.support.reko import submit as submit_api
from tests.support.web import Browser, logged_in_browser

UTC = dt.UTC


@dataclass
class World:
    app: Flask
    client: FlaskClient
    tokens: Parties
    pki: TestPki
    anna: Browser


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
        anna = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    return World(app, app.test_client(), tokens, installed_pki, anna)


def multipart(browser: Browser, page: str, action: str, data: dict[str, Any]) -> Any:
    """Post a form with files, its CSRF token read from page first."""
    fields = cast(dict[str, str], {"csrf_token": browser.token(page), **data})
    return browser.post(action, fields, content_type="multipart/form-data")


def denials(action: str) -> int:
    rows = get_session().scalars(select(AuditEntry).where(AuditEntry.action == action))
    return sum(1 for row in rows if row.outcome != "ok")


def test_the_inbox_lists_by_deadline_with_text_for_near_and_past(world: World) -> None:
    with world.app.app_context():
        fresh = received_days_ago(0)
        near = received_days_ago(25, personnummer=nth_personnummer(5))
        late = received_days_ago(33, personnummer=nth_personnummer(7))
        world.anna.submit("/inkorg", "/inkorg/enhet", {"enhet": KRYDDGARDEN})
        page = world.anna.get("/inkorg").get_data(as_text=True)
        references = [get_session().get(Inquiry, i).reference for i in (late, near, fresh)]
    positions = [page.index(reference) for reference in references]
    assert positions == sorted(positions)
    assert "Försenad" in page and "Snart" in page
    assert TOLVAN not in page and "Tolvan" not in page  # no personal data in the list


def test_opening_records_opened_once_and_audits_the_read_once_per_session(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        for _ in range(2):
            page = world.anna.get(f"/inkorg/{inquiry_id}")
            assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Tolvan Tolvansson" in text and "19121212-1212" in text and "Samtycke" in text
        assert leg_kinds(inquiry_id).count("opened") == 1
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.read", AuditEntry.object_id == inquiry_id))
        assert len(list(reads)) == 1


def test_rerouting_offers_the_directorys_other_vcs_by_name_and_hsa_id(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        page = world.anna.get(f"/inkorg/{inquiry_id}").get_data(as_text=True)
    form = page[page.index('<select id="care_unit"'):]
    form = form[:form.index("</select>")]
    assert f'value="{ROSENGARD}"' in form and f"({ROSENGARD})" in form
    assert f'value="{KRYDDGARDEN}"' not in form  # not the VC it is at now
    assert 'type="text" id="care_unit"' not in page  # no HSA-id typed by hand


def test_a_reko_of_another_vc_gets_404_and_an_audit_denial(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        cecilia = logged_in_browser(world.app, "cecilia", Role.COORDINATOR,
                                    hsa_id=CECILIA.hsa_id)
        assert cecilia.get(f"/inkorg/{inquiry_id}").status_code == 404
        assert inquiry_id[:8] not in cecilia.get("/inkorg").get_data(as_text=True)
        assert denials("inquiry.read") == 1
        assert "opened" not in leg_kinds(inquiry_id)


def test_a_case_worker_cannot_open_the_inbox(world: World) -> None:
    with world.app.app_context():
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER,
                                   unit=EBB_OSTER)
        assert worker.get("/inkorg").status_code == 403


def test_upload_refusals_name_the_rule_and_a_signed_upload_is_stored_as_sent(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        page = f"/inkorg/{inquiry_id}"
        refused = multipart(world.anna, page, page + "/svar",
                            {"pdf": (io.BytesIO(b"inte en pdf"), "svar.pdf")})
        assert refused.status_code == 422
        assert 'data-code="P1"' in refused.get_data(as_text=True)
        empty = multipart(world.anna, page, page + "/svar",
                          {"pdf": (io.BytesIO(b""), "svar.pdf")})
        assert empty.status_code == 400
        assert "Välj den signerade svarsfilen" in empty.get_data(as_text=True)
        # Read by accept_answer from the upload's own file. Below 500 kB: werkzeug's test
        # client spools a larger form to a file it never closes.
        pdf = sign(plain_pdf(reference=inquiry_id, padding=400_000),
                   world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes())
        ok = multipart(world.anna, page, page + "/svar", {"pdf": (io.BytesIO(pdf), "svar.pdf")})
        assert ok.status_code == 302
        assert leg_kinds(inquiry_id)[-1] == "answered"
        stored = answer_for(get_session(), inquiry_id)
        assert stored is not None and stored.pdf == pdf


FIELDS = {"svar_AKTIVITETSFORMAGA": "Klarar halvtid.", "svar_BEGRANSNINGAR": "Inga tunga lyft.",
          "svar_OVRIGT": "Förmiddagar går bra.", "sip": "ja", "lakare_namn": "Johan Ek"}


def test_the_composer_downloads_a_pdf_and_has_no_field_for_a_key(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        form_page = f"/inkorg/{inquiry_id}/svara"
        page = world.anna.get(form_page).get_data(as_text=True)
        assert 'name="p12"' not in page and 'name="passphrase"' not in page
        missing = world.anna.submit(form_page, form_page, {"action": "download"})
        assert missing.status_code == 422
        download = world.anna.submit(form_page, form_page, {**FIELDS, "action": "download"})
        assert download.status_code == 200 and download.mimetype == "application/pdf"
        assert inquiry_id.encode() in download.get_data()


def prepare(world: World, inquiry_id: str, p12: bytes, fields: dict[str, str] | None = None
            ) -> Any:
    """Step one as the browser does it: the composer's fields and the chain, nothing else."""
    form_page = f"/inkorg/{inquiry_id}/svara"
    data = {**(FIELDS if fields is None else fields),
            "kedja": [base64.b64encode(c).decode() for c in chain_of(p12)]}
    return multipart(world.anna, form_page, f"{form_page}/forbered", data)


def finish(world: World, inquiry_id: str, request_id: str, value: bytes) -> Any:
    form_page = f"/inkorg/{inquiry_id}/svara"
    return world.anna.submit(form_page, form_page, {
        **FIELDS, "action": "finish", "signatur_id": request_id,
        "signatur": base64.b64encode(value).decode()})


def test_the_composer_signs_with_a_value_made_outside_the_server(world: World) -> None:
    p12 = world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes()
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        prepared = prepare(world, inquiry_id, p12)
        assert prepared.status_code == 200, prepared.get_data(as_text=True)
        body = prepared.get_json()
        assert body["algorithm"] == "RSASSA-PKCS1-v1_5"
        value = sign_with(p12, base64.b64decode(body["to_sign"]))
        signed = finish(world, inquiry_id, body["id"], value)
        assert signed.status_code == 302, signed.get_data(as_text=True)
        assert leg_kinds(inquiry_id)[-1] == "answered"
        again = finish(world, inquiry_id, body["id"], value)
        assert again.status_code == 422 and "Signera svaret igen" in again.get_data(as_text=True)


def test_preparing_refuses_missing_answers_and_unreadable_certificates(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        empty = prepare(world, inquiry_id, world.pki.reko_p12(), fields={})
        assert empty.status_code == 422 and empty.mimetype == "application/problem+json"
        assert empty.get_json()["type"].endswith("ANSWER_INCOMPLETE")
        form_page = f"/inkorg/{inquiry_id}/svara"
        garbled = multipart(world.anna, form_page, f"{form_page}/forbered",
                            {**FIELDS, "kedja": "not base64!"})
        assert garbled.status_code == 422
        assert garbled.get_json()["type"].endswith("SIGNING_FAILED")


@pytest.mark.parametrize(
    ("chain_of_whom", "key_of_whom", "rule"),
    [(ANNA, CECILIA, "P2"),       # a value made with another key than the certificate's
     (CECILIA, CECILIA, "P4")],   # a REKO of another VC signing with her own key
)
def test_a_refused_signature_names_the_rule_and_keeps_the_fields(
    world: World, chain_of_whom: Person, key_of_whom: Person, rule: str
) -> None:
    layout = world.pki.layout
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        body = prepare(world, inquiry_id, layout.reko_pkcs12(chain_of_whom.hsa_id).read_bytes()
                       ).get_json()
        value = sign_with(layout.reko_pkcs12(key_of_whom.hsa_id).read_bytes(),
                          base64.b64decode(body["to_sign"]))
        refused = finish(world, inquiry_id, body["id"], value)
        page = refused.get_data(as_text=True)
        assert refused.status_code == 422
        assert f"<strong>{rule}</strong>" in page
        assert "Inga tunga lyft." in page and 'value="Johan Ek"' in page
        assert "answered" not in leg_kinds(inquiry_id)


def test_an_expired_or_unknown_signing_request_says_to_sign_again(world: World) -> None:
    p12 = world.pki.reko_p12()
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        body = prepare(world, inquiry_id, p12).get_json()
        session = get_session()
        request = session.get(SigningRequest, body["id"])
        assert request is not None
        request.expires_at = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
        session.commit()
        value = sign_with(p12, base64.b64decode(body["to_sign"]))
        for request_id in (body["id"], "unknown"):
            late = finish(world, inquiry_id, request_id, value)
            assert late.status_code == 422
            assert "Signera svaret igen" in late.get_data(as_text=True)
        assert "answered" not in leg_kinds(inquiry_id)


def test_a_garbled_signature_value_is_refused(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        body = prepare(world, inquiry_id, world.pki.reko_p12()).get_json()
        form_page = f"/inkorg/{inquiry_id}/svara"
        garbled = world.anna.submit(form_page, form_page, {
            **FIELDS, "action": "finish", "signatur_id": body["id"], "signatur": "inte base64!"})
        assert garbled.status_code == 422
        assert "fel storlek" in garbled.get_data(as_text=True)


def test_the_case_worker_downloads_and_registers_the_answer(world: World) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        from tests.support.reko import post_answer

        pdf = signed_answer(world.pki, inquiry_id)
        assert post_answer(world.client, world.tokens.reko, inquiry_id, pdf).status_code == 201
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER,
                                   unit=EBB_OSTER)
        fetched = worker.get(f"/arende/{inquiry_id}/svar.pdf")
        assert fetched.status_code == 200 and fetched.get_data() == pdf
        token = worker.token("/samtycke/aterkallat")
        done = worker.post(f"/arende/{inquiry_id}/registrerad", {"csrf_token": token})
        assert done.status_code == 302
        assert leg_kinds(inquiry_id)[-3:] == ["answered", "answer_delivered", "registered"]
        assert world.anna.get(f"/arende/{inquiry_id}/svar.pdf").status_code == 403


@pytest.mark.parametrize("target", ["/\\evil.example/", "//evil.example/", "https://evil.example/",
                                    "/\t/evil.example/"])
def test_the_answer_actions_never_redirect_off_site(world: World, target: str) -> None:
    with world.app.app_context():
        inquiry_id = submit_api(world.client, world.tokens.sender)
        from tests.support.reko import post_answer

        pdf = signed_answer(world.pki, inquiry_id)
        assert post_answer(world.client, world.tokens.reko, inquiry_id, pdf).status_code == 201
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        token = worker.token("/samtycke/aterkallat")
        done = worker.post(f"/arende/{inquiry_id}/registrerad",
                           {"csrf_token": token, "next": target})
        assert done.status_code == 302
        assert "evil.example" not in done.headers["Location"]


def test_the_withdrawal_is_reachable_from_the_case_workers_inquiry_with_its_vc_chosen(
    world: World,
) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(3)
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        page = worker.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    link = f'href="/samtycke/aterkallat?care_unit={KRYDDGARDEN}"'
    assert link in page
    form = worker.get(f"/samtycke/aterkallat?care_unit={KRYDDGARDEN}").get_data(as_text=True)
    assert f'value="{KRYDDGARDEN}" selected' in form
    assert TOLVAN not in form  # the person is typed, never carried in the address


def test_another_units_withdrawal_leaves_the_inquiry_alone_and_tells_nothing(
    world: World,
) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(3)
        norr = logged_in_browser(world.app, "nils", Role.CASE_WORKER, unit="EBB Norr")
        form = "/samtycke/aterkallat"
        today = dt.datetime.now(UTC).date().isoformat()
        done = norr.submit(form, form, {"personnummer": TOLVAN, "care_unit": KRYDDGARDEN,
                                        "withdrawn_on": today, "confirm": "ja"})
        assert done.status_code == 302
        page = norr.get(done.headers["Location"]).get_data(as_text=True)
        assert "0 öppna förfrågningar från er enhet" in page
        assert "closed" not in leg_kinds(inquiry_id)
        stored = get_session().get(Inquiry, inquiry_id)
        assert stored is not None and stored.content is not None
        # EBB Öster may still send about the person: the consent it holds is not withdrawn.
        submit(get_session(), halsoforfragan(), submitter=SUBMITTER, channel="api",
               now=dt.datetime.now(UTC))


def test_consent_withdrawal_closes_purges_and_blocks_new_inquiries(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(3)
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER,
                                   unit=EBB_OSTER)
        form = "/samtycke/aterkallat"
        bad = worker.submit(form, form, {"personnummer": "191212121213",
                                         "care_unit": KRYDDGARDEN, "withdrawn_on": "2020-01-01"})
        assert bad.status_code == 422
        today = dt.datetime.now(UTC).date().isoformat()
        fields = {"personnummer": TOLVAN, "care_unit": KRYDDGARDEN, "withdrawn_on": today}
        unconfirmed = worker.submit(form, form, fields)
        assert unconfirmed.status_code == 422
        assert "Bekräfta att personen har återkallat samtycket" in \
            unconfirmed.get_data(as_text=True)
        assert leg_kinds(inquiry_id)[-1] != "closed"
        ok = worker.submit(form, form, {**fields, "confirm": "ja"})
        assert ok.status_code == 302
        [entry] = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "consent.withdrawn")).all()
        assert entry.detail["purpose"] == "registrera återkallat samtycke"
        assert "sent_to" not in entry.detail
        # A VC served here: nothing to send, so the number is not kept.
        from gateway.inquiries.models import ConsentWithdrawal
        from gateway.jobs.models import Job

        [withdrawal] = get_session().scalars(select(ConsentWithdrawal)).all()
        assert withdrawal.personnummer is None
        assert get_session().scalars(select(Job).where(
            Job.kind == "federation.withdrawal")).all() == []
        assert leg_kinds(inquiry_id)[-2:] == ["consent_withdrawn", "closed"]
        stored = get_session().get(Inquiry, inquiry_id)
        assert stored is not None
        get_session().refresh(stored)
        assert stored.content is None and stored.personnummer is None
        assert stored.purged_at is not None
        with pytest.raises(GatewayError) as refused:
            submit(get_session(), halsoforfragan(), submitter=SUBMITTER, channel="api",
                   now=dt.datetime.now(UTC))
        assert "C7" in {issue.code for issue in refused.value.issues}


# --- drafts: nothing the REKO writes is lost ---------------------------------------------------


def _draft_rows() -> list[AnswerDraft]:
    return list(get_session().scalars(select(AnswerDraft)))


def test_a_saved_draft_comes_back_sealed_to_its_author_only_until_discarded(world: World
                                                                            ) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        form_page = f"/inkorg/{inquiry_id}/svara"
        saved = world.anna.submit(form_page, form_page, {**FIELDS, "action": "save"})
        assert saved.status_code == 302 and saved.location.endswith(form_page)
        page = world.anna.get(form_page).get_data(as_text=True)
        assert "Inga tunga lyft." in page and 'value="Johan Ek"' in page
        assert "Ditt utkast sparades" in page
        # Sealed at rest: the text is not in the row's bytes.
        (row,) = _draft_rows()
        assert b"Inga tunga lyft" not in bytes(row.content or b"")
        assert row.author == "user:anna"
        # A colleague at the same VC opens an empty composer.
        colleague = logged_in_browser(world.app, "britt", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        assert "Inga tunga lyft." not in colleague.get(form_page).get_data(as_text=True)
        discarded = world.anna.submit(form_page, form_page, {"action": "discard"})
        assert discarded.status_code == 302
        assert _draft_rows() == []
        assert "Inga tunga lyft." not in world.anna.get(form_page).get_data(as_text=True)
        actions = [e.action for e in get_session().scalars(
            select(AuditEntry).where(AuditEntry.object_id == inquiry_id))]
        assert "answer.draft_saved" in actions and "answer.draft_discarded" in actions


def test_a_refused_signature_keeps_the_text_as_a_draft_for_later(world: World) -> None:
    layout = world.pki.layout
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        body = prepare(world, inquiry_id, layout.reko_pkcs12(CECILIA.hsa_id).read_bytes()
                       ).get_json()
        value = sign_with(layout.reko_pkcs12(CECILIA.hsa_id).read_bytes(),
                          base64.b64decode(body["to_sign"]))
        assert finish(world, inquiry_id, body["id"], value).status_code == 422
        later = world.anna.get(f"/inkorg/{inquiry_id}/svara").get_data(as_text=True)
        assert "Inga tunga lyft." in later and "Förmiddagar går bra." in later


def test_the_draft_goes_when_the_inquiry_is_answered_or_closed(world: World) -> None:
    p12 = world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes()
    with world.app.app_context():
        answered, closed = received_days_ago(0), received_days_ago(1)
        for inquiry_id in (answered, closed):
            page = f"/inkorg/{inquiry_id}/svara"
            world.anna.submit(page, page, {**FIELDS, "action": "save"})
        assert len(_draft_rows()) == 2
        body = prepare(world, answered, p12).get_json()
        assert finish(world, answered, body["id"],
                      sign_with(p12, base64.b64decode(body["to_sign"]))).status_code == 302
        assert [row.inquiry_id for row in _draft_rows()] == [closed]
        detail = f"/inkorg/{closed}"
        world.anna.submit(detail, f"{detail}/avsluta",
                          {"reason": "PERSON_MOVED", "bekraftat": "ja"})
        assert "closed" in leg_kinds(closed)
        assert _draft_rows() == []


# --- the case worker's person search ------------------------------------------------------------


def _search(browser: Browser, number: str) -> Any:
    return browser.submit("/arenden/person", "/arenden/person", {"personnummer": number})


def test_a_person_search_refuses_a_bad_number_and_logs_nothing_about_anyone(
        world: World) -> None:
    with world.app.app_context():
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        before = get_session().scalar(select(func.count()).select_from(AuditEntry))
        refused = _search(worker, "19121212-1213")
        assert refused.status_code == 422
        assert "Personnummer:" in refused.get_data(as_text=True)
        assert get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "person.searched")).all() == []
        assert get_session().scalar(select(func.count()).select_from(AuditEntry)) == before


def test_a_person_search_shows_the_units_own_inquiries_and_leads_on_to_withdrawal(
        world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(3)
        reference = get_session().get(Inquiry, inquiry_id).reference  # type: ignore[union-attr]
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        page = _search(worker, "19121212-1212").get_data(as_text=True)
        assert reference in page and "Vårdcentralen Kryddgården" in page
        assert "19121212-1212" in page
        searched = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "person.searched")).one()
        assert searched.object_type == "person" and TOLVAN not in searched.object_id
        assert searched.detail["found"] == 1
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.read", AuditEntry.object_id == inquiry_id)).all()
        assert [r.detail["purpose"] for r in reads] == ["personsökning"]
        # On to the withdrawal: the form comes filled in, and nothing is registered yet.
        form = worker.submit("/arenden/person", "/samtycke/aterkallat",
                             {"forifyll": "1", "personnummer": TOLVAN,
                              "care_unit": KRYDDGARDEN}).get_data(as_text=True)
        assert 'value="19121212-1212"' in form and f'value="{KRYDDGARDEN}" selected' in form
        assert get_session().scalars(select(ConsentWithdrawal)).all() == []
        assert "closed" not in leg_kinds(inquiry_id)


def test_another_units_person_search_finds_nothing_and_hints_at_nothing(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(3)
        reference = get_session().get(Inquiry, inquiry_id).reference  # type: ignore[union-attr]
        norr = logged_in_browser(world.app, "nils", Role.CASE_WORKER, unit="EBB Norr")
        page = _search(norr, TOLVAN).get_data(as_text=True)
        assert "Er enhet har inga hälsoförfrågningar om personen." in page
        assert reference not in page and "Vårdcentralen Kryddgården" not in page
        assert get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.read", AuditEntry.object_id == inquiry_id)).all() == []
