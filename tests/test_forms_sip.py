"""SIP's invitation and reply (DESIGN 5.8) in the forms library: each rule S1–S4 and each consent
rule refused with its code, XML errors naming the line and element, and the registry picking the
form type by the root's namespace. Bad input first."""

from __future__ import annotations

import datetime as dt

import pytest

from forms.consent import check_consent
from forms.errors import FormError
from forms.formtypes import HALSOFORFRAGAN, SIP, kind_of, parse_form
from forms.sip import Beslut, Roll, SipKallelse, parse_sip_kallelse, parse_sip_svar
from forms.xmlsafe import parse_xml
from tests.support.forms import OMIT, halsoforfragan
from tests.support.sip import sip_kallelse, sip_svar

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def refused(data: bytes) -> FormError:
    with pytest.raises(FormError) as caught:
        parse_sip_kallelse(data)
    return caught.value


@pytest.mark.parametrize(("overrides", "code", "path"), [
    # S1: the meeting after skapad.
    ({"mote_tid": "2026-03-02T08:00:00+01:00", "svar_senast": "2026-03-02"}, "S1",
     "/sipKallelse/mote/tid"),
    # S2: the reply due after the meeting's date, or before skapad's.
    ({"svar_senast": "2026-03-10"}, "S2", "/sipKallelse/svarSenast"),
    ({"svar_senast": "2026-03-01"}, "S2", "/sipKallelse/svarSenast"),
    # S3: the VC is one of the participants.
    ({"deltagare": (("SOCIALTJANST", "Åsa"), ("PSYKIATRI", "Psykiatrin"))}, "S3",
     "/sipKallelse/deltagare"),
    # S4: a digital link is https.
    ({"plats": None, "digital_lank": "http://meet.example.org/sip"}, "S4",
     "/sipKallelse/mote/digitalLank"),
    ({"plats": None, "digital_lank": "https:///no-host"}, "S4", "/sipKallelse/mote/digitalLank"),
])
def test_each_s_rule_is_refused_with_its_code(overrides: dict[str, object], code: str,
                                              path: str) -> None:
    error = refused(sip_kallelse(NOW, **overrides))
    assert error.codes == (code,)
    assert error.issues[0].path == path
    assert error.issues[0].line is not None


def test_a_meeting_on_the_due_day_in_sweden_is_allowed_across_utc_midnight() -> None:
    # 00:30 Swedish time on 9 March is 23:30 UTC on 8 March: the Swedish date counts for S2.
    form = parse_sip_kallelse(sip_kallelse(NOW, mote_tid="2026-03-09T00:30:00+01:00",
                                           svar_senast="2026-03-09"))
    assert form.svar_senast == dt.date(2026, 3, 9)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"langd_minuter": "10"}, "langdMinuter"),
    ({"langd_minuter": "481"}, "langdMinuter"),
    ({"sip_syfte": "x" * 2001}, "syfte"),
    ({"deltagare": (("TANDVARD", "X"), ("VARDCENTRAL", "Y"))}, "deltagare"),
    ({"syfte": "PLANERING_ARBETE_STUDIER"}, "samtycke/syfte"),
    ({"plats": None}, "mote"),
    ({"svar_senast": OMIT}, "sipKallelse"),
])
def test_schema_errors_name_the_line_and_element(overrides: dict[str, object],
                                                 field: str) -> None:
    error = refused(sip_kallelse(NOW, **overrides))
    assert error.codes == ("XSD",)
    found = error.issues[0]
    assert field in found.path
    assert found.line is not None and found.line > 1


def test_syntax_errors_name_the_line() -> None:
    data = sip_kallelse(NOW).replace(b"</mote>", b"</moet>")
    error = refused(data)
    assert error.codes == ("XML_SYNTAX",)
    assert error.issues[0].line is not None


def test_a_halsoforfragan_is_not_an_invitation() -> None:
    error = refused(halsoforfragan(NOW))
    assert error.codes == ("XML_NAMESPACE",)
    assert error.issues[0].title == "Dokumentet är inte en SIP-kallelse"


def test_a_bad_personnummer_is_named_as_for_inquiries() -> None:
    error = refused(sip_kallelse(NOW, personnummer="191212121213"))
    assert error.codes == ("PERSONNUMMER",)
    assert error.issues[0].path == "/sipKallelse/person/personnummer"


# --- consent, syfte SIP -----------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "kind", "code"), [
    ({"givet": "2026-03-03"}, "socialtjanst", "C1"),
    ({"givet": "2025-03-01", "giltigt_till": "2026-03-01"}, "socialtjanst", "C2"),
    ({"givet": "2026-02-01", "giltigt_till": "2027-02-02"}, "socialtjanst", "C3"),
    ({"uppgiftslamnare": "SE2321000255-K002"}, "socialtjanst", "C4"),
    ({"mottagare": ("arbetsmarknad",)}, "socialtjanst", "C5"),
    ({"samtycke_form": "muntligt", "dokumenterat_av": None}, "socialtjanst", "C6"),
])
def test_each_consent_rule_applies_to_an_invitation(overrides: dict[str, object], kind: str,
                                                    code: str) -> None:
    form = parse_sip_kallelse(sip_kallelse(NOW, **overrides))
    report = check_consent(form, sender_kind=kind)
    assert [r.code for r in report.failed] == [code]
    assert report.failed[0].path.startswith("/sipKallelse/samtycke/")
    assert report.failed[0].line is not None


def test_c7_a_withdrawal_after_the_consent_refuses_the_invitation() -> None:
    form = parse_sip_kallelse(sip_kallelse(NOW))
    later = form.samtycke.givet + dt.timedelta(days=1)
    report = check_consent(form, sender_kind="socialtjanst", withdrawals=[later])
    assert [r.code for r in report.failed] == ["C7"]


def test_a_valid_invitation_passes_every_rule() -> None:
    form = parse_sip_kallelse(sip_kallelse(NOW, plats=None,
                                           digital_lank="https://meet.example.org/sip/1"))
    assert isinstance(form, SipKallelse)
    assert form.mote.digital_lank == "https://meet.example.org/sip/1"
    assert form.mote.langd_minuter == 60
    assert Roll.VARDCENTRAL in {d.roll for d in form.deltagare}
    assert check_consent(form, sender_kind="socialtjanst").ok


# --- the reply --------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [
    {"beslut": "NYTT_FORSLAG", "ny_tid": None},
    {"beslut": "KOMMER", "ny_tid": "2026-03-12T10:00:00+01:00"},
])
def test_a_new_proposal_needs_a_new_time_and_only_it(overrides: dict[str, object]) -> None:
    with pytest.raises(FormError) as caught:
        parse_sip_svar(sip_svar("6f1c1d1e-1111-4222-8333-944455556666", NOW, **overrides))
    assert caught.value.codes == ("SVAR_NY_TID",)


@pytest.mark.parametrize("new_time", ["2026-03-09T10:00:00+01:00", "2025-12-24T10:00:00+01:00"])
def test_a_new_time_not_after_the_replys_skapad_is_refused(new_time: str) -> None:
    skapad = dt.datetime.fromisoformat(new_time).astimezone(dt.UTC)
    later = NOW if skapad < NOW else skapad
    with pytest.raises(FormError) as caught:
        parse_sip_svar(sip_svar("6f1c1d1e-1111-4222-8333-944455556666", later,
                                beslut="NYTT_FORSLAG", ny_tid=new_time))
    assert caught.value.codes == ("SVAR_NY_TID_PASSERAD",)
    assert caught.value.issues[0].path == "/sipSvar/nyTid"
    assert "måste ligga efter att svaret skapades" in caught.value.issues[0].detail


def test_a_reply_with_an_unknown_decision_names_the_element() -> None:
    with pytest.raises(FormError) as caught:
        parse_sip_svar(sip_svar("6f1c1d1e-1111-4222-8333-944455556666", NOW, beslut="KANSKE"))
    assert caught.value.codes == ("XSD",)
    assert caught.value.issues[0].path == "/sipSvar/beslut"


def test_a_reply_is_read() -> None:
    reply = parse_sip_svar(sip_svar("6F1C1D1E-1111-4222-8333-944455556666", NOW,
                                    beslut="NYTT_FORSLAG", ny_tid="2026-03-12T10:00:00+01:00"))
    assert reply.kallelse == "6f1c1d1e-1111-4222-8333-944455556666"
    assert reply.beslut is Beslut.NYTT_FORSLAG
    assert reply.ny_tid == dt.datetime(2026, 3, 12, 9, 0, tzinfo=dt.UTC)


# --- the registry -----------------------------------------------------------------------------

def test_the_registry_refuses_an_unknown_root_naming_the_known() -> None:
    with pytest.raises(FormError) as caught:
        kind_of(parse_xml(b'<x xmlns="urn:example"/>'))
    assert caught.value.codes == ("XML_NAMESPACE",)
    assert "sipKallelse" in caught.value.issues[0].detail


def test_the_registry_refuses_another_type_when_one_is_asked_for() -> None:
    with pytest.raises(FormError) as caught:
        parse_form(sip_kallelse(NOW), kind=HALSOFORFRAGAN)
    assert caught.value.codes == ("XML_NAMESPACE",)


def test_the_registry_picks_the_form_type_by_namespace() -> None:
    assert parse_form(sip_kallelse(NOW))[0] is SIP
    assert parse_form(halsoforfragan(NOW))[0] is HALSOFORFRAGAN
