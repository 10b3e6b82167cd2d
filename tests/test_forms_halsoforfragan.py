"""Parsing a hälsoförfrågan: bad input refused with its code and place; the valid one typed."""

from __future__ import annotations

import base64
import datetime as dt
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from forms import FormError, Limits, check_consent, parse_halsoforfragan
from forms.halsoforfragan import (
    FragaKod,
    Halsoforfragan,
    Mottagarkategori,
    SamtyckeForm,
    Titel,
    source_lines,
)
from forms.xmlsafe import element_path, parse_xml

DATA = Path(__file__).parent / "data"
VALID = (DATA / "halsoforfragan-valid.xml").read_text(encoding="utf-8")
_BILAGA = re.search(r"(<bilaga[^>]*>)(.*?)(</bilaga>)", VALID, re.S)
assert _BILAGA
BILAGA_TEXT = _BILAGA.group(2)


def line_of(snippet: str, text: str = VALID) -> int:
    """The 1-based line of the first occurrence of `snippet` in `text`."""
    index = text.index(snippet)
    return text.count("\n", 0, index) + 1


def replaced(old: str, new: str, text: str = VALID) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def swapped(first: str, second: str) -> str:
    """VALID with the first matches of regexes `first` and `second` (in that order) swapped."""
    one = re.search(first, VALID, re.S)
    two = re.search(second, VALID, re.S)
    assert one and two and one.end() <= two.start()
    return (
        VALID[: one.start()]
        + two.group()
        + VALID[one.end() : two.start()]
        + one.group()
        + VALID[two.end() :]
    )


def removed(pattern: str) -> str:
    """VALID without the first match of regex `pattern` (DOTALL)."""
    result, count = re.subn(pattern, "", VALID, count=1, flags=re.S)
    assert count == 1, pattern
    return result


def intake(data: bytes, *, withdrawals: tuple[dt.date, ...] = ()) -> Halsoforfragan:
    """Parse and check consent as the intake does (sender: EBB, so socialtjanst)."""
    form = parse_halsoforfragan(data)
    check_consent(form, sender_kind="socialtjanst", withdrawals=withdrawals).raise_for_failures()
    return form


@dataclass
class Bad:
    """One bad input: the bytes, the code expected, and where (path/line) when relevant."""

    data: bytes | str
    code: str
    path: str | None = None
    line: int | None = None
    mentions: str | None = None  # a word the issue's detail must contain
    withdrawals: tuple[dt.date, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def as_bytes(self) -> bytes:
        return self.data.encode("utf-8") if isinstance(self.data, str) else self.data


DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
BODY = VALID.split("\n", 1)[1]

XXE = (
    DECL
    + ('<!DOCTYPE halsoforfragan [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
    + BODY.replace("<namn>Tolvan Tolvansson</namn>", "<namn>&xxe;</namn>")
)
LAUGHS = (
    DECL
    + "<!DOCTYPE halsoforfragan [\n"
    + '<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
    + BODY.replace("<namn>Tolvan Tolvansson</namn>", "<namn>&lol9;</namn>")
)
EXTERNAL_DTD = (
    DECL + ('<!DOCTYPE halsoforfragan SYSTEM "http://example.invalid/halsoforfragan.dtd">\n') + BODY
)

MISSING = [
    ("id", r"<id>.*?</id>"),
    ("skapad", r"<skapad>.*?</skapad>"),
    ("avsandare", r"<avsandare>.*?</avsandare>"),
    ("organisation", r"<organisation>.*?</organisation>"),
    ("enhet", r"<enhet>.*?</enhet>"),
    ("funktionsadress", r"<funktionsadress>.*?</funktionsadress>"),
    ("handlaggare", r"<handlaggare>.*?</handlaggare>"),
    ("namn", r"<namn>Åsa Lindqvist</namn>"),
    ("titel", r"<titel>.*?</titel>"),
    ("telefon", r"<telefon>040-34 10 00</telefon>"),
    ("epost", r"<epost>.*?</epost>"),
    ("mottagare", r"<mottagare>\s*<vardcentral.*?</mottagare>"),
    ("vardcentral", r"<vardcentral.*?</vardcentral>"),
    ("person", r"<person>.*?</person>"),
    ("personnummer", r"<personnummer>.*?</personnummer>"),
    ("namn", r"<namn>Tolvan Tolvansson</namn>"),
    ("samtycke", r"<samtycke>.*?</samtycke>"),
    ("givet", r"<givet>.*?</givet>"),
    ("giltigtTill", r"<giltigtTill>.*?</giltigtTill>"),
    ("form", r"<form>.*?</form>"),
    ("uppgiftslamnare", r"<uppgiftslamnare[^>]*/>"),
    ("mottagare", r"<mottagare>socialtjanst</mottagare>\s*<mottagare>arbetsmarknad</mottagare>"),
    ("syfte", r"<syfte>.*?</syfte>"),
    ("bakgrund", r"<bakgrund>.*?</bakgrund>"),
    ("fragor", r"<fragor>.*?</fragor>"),
    ("fraga", r"(<fraga [^>]*/>\s*)+<fraga kod=\"OVRIGT\">.*?</fraga>"),
]

MISSING_ATTRIBUTES = [
    ("/halsoforfragan/mottagare/vardcentral/@hsaId", ' hsaId="SE2321000255-K001">V', ">V"),
    ("/halsoforfragan/samtycke/uppgiftslamnare/@hsaId", ' hsaId="SE2321000255-K001"/>', "/>"),
    ("/halsoforfragan/person/tolkbehov/@sprak", ' sprak="ar"', ""),
    ("/halsoforfragan/samtycke/bilaga/@filnamn", ' filnamn="samtycke-tolvansson.pdf"', ""),
    ("/halsoforfragan/fragor/fraga[1]/@kod", ' kod="AKTIVITETSFORMAGA"', ""),
]

PNR = "/halsoforfragan/person/personnummer"
VC_HSA = "/halsoforfragan/mottagare/vardcentral/@hsaId"
LAMNARE_HSA = "/halsoforfragan/samtycke/uppgiftslamnare/@hsaId"
L_PNR = line_of("<personnummer>")
L_VC = line_of("<vardcentral")
L_LAMNARE = line_of("<uppgiftslamnare")
L_GIVET = line_of("<givet>")
L_GILTIG = line_of("<giltigtTill>")
L_FRAGA5 = line_of('<fraga kod="OVRIGT">')

BAD: dict[str, Bad] = {
    # -- hostile or broken XML
    "xxe external entity": Bad(XXE, "XML_DTD", line=2),
    "billion laughs": Bad(LAUGHS, "XML_DTD", line=2),
    "external DTD": Bad(EXTERNAL_DTD, "XML_DTD", line=2),
    "lower-case doctype": Bad(DECL + "<!doctype halsoforfragan>\n" + BODY, "XML_DTD", line=2),
    "undefined entity": Bad(
        replaced("<namn>Tolvan Tolvansson</namn>", "<namn>&xxe;</namn>"),
        "XML_SYNTAX",
        line=line_of("<namn>Tolvan"),
    ),
    "processing instruction inside": Bad(
        replaced("<bakgrund>", "<?evil run?><bakgrund>"), "XML_PI", line=line_of("<bakgrund>")
    ),
    "xml-stylesheet before root": Bad(
        DECL + '<?xml-stylesheet type="text/xsl" href="http://example.invalid/x.xsl"?>\n' + BODY,
        "XML_PI",
        line=2,
    ),
    "not XML": Bad(b"Hej, detta \xc3\xa4r ingen XML.", "XML_SYNTAX", line=1),
    "JSON": Bad(b'{"id": "3f2c8d4e"}', "XML_SYNTAX", line=1),
    "truncated": Bad(VALID[: VALID.index("<samtycke>")], "XML_SYNTAX"),
    "mismatched tag": Bad(
        replaced("</enhet>", "</enheten>"), "XML_SYNTAX", line=line_of("</enhet>")
    ),
    "two roots": Bad(VALID + "<halsoforfragan/>", "XML_SYNTAX"),
    "empty": Bad(b"", "XML_EMPTY"),
    "only whitespace": Bad(b" \n\t\r\n", "XML_EMPTY"),
    "only a BOM": Bad(b"\xef\xbb\xbf", "XML_EMPTY"),
    "Latin-1 bytes": Bad(VALID.encode("latin-1"), "XML_ENCODING", line=2),
    "ISO-8859-1 declared": Bad(
        replaced('encoding="UTF-8"', 'encoding="ISO-8859-1"'), "XML_ENCODING", line=1
    ),
    "UTF-16": Bad(
        replaced('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"), "XML_ENCODING"
    ),
    "UTF-16 without BOM": Bad(
        replaced('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"), "XML_ENCODING"
    ),
    "deep nesting in text": Bad(
        replaced("<bakgrund>", "<bakgrund>" + "<x>" * 20 + "</x>" * 20),
        "XML_TOO_DEEP",
        line=line_of("<bakgrund>"),
    ),
    "deep nesting beyond libxml2": Bad(
        replaced("<bakgrund>", "<bakgrund>" + "<x>" * 300 + "</x>" * 300), "XML_TOO_DEEP"
    ),
    "oversize for the limit": Bad(VALID, "XML_TOO_LARGE", limits=Limits(max_bytes=1000)),
    "oversize by default": Bad(
        replaced("<bakgrund>", "<!--" + "x" * (12 * 1024 * 1024) + "--><bakgrund>"),
        "XML_TOO_LARGE",
    ),
    "text node too large": Bad(
        replaced(BILAGA_TEXT, "A" * 10_000_004), "XML_TOO_LARGE", line=line_of("<bilaga")
    ),
    "too many elements": Bad(
        replaced("<fragor>", "<fragor>" + '<fraga kod="SIP"/>' * 6000), "XML_TOO_MANY_ELEMENTS"
    ),
    # -- not a hälsoförfrågan 1.0
    "wrong namespace": Bad(
        replaced("urn:kryddgarden:halsoforfragan:1", "urn:kryddgarden:halsoforfragan:2"),
        "XML_NAMESPACE",
        path="/halsoforfragan",
        line=3,
    ),
    "no namespace": Bad(
        replaced(' xmlns="urn:kryddgarden:halsoforfragan:1"', ""), "XML_NAMESPACE", line=3
    ),
    "wrong root": Bad(
        replaced("<halsoforfragan ", "<forfragan ").replace("</halsoforfragan>", "</forfragan>"),
        "XML_NAMESPACE",
        path="/forfragan",
    ),
    "wrong version": Bad(replaced('version="1.0">', 'version="2.0">'), "VERSION", line=3),
    "missing version": Bad(replaced(' version="1.0">', ">"), "VERSION", line=3),
    # -- schema
    "skapad without time zone": Bad(
        replaced("09:15:00+01:00", "09:15:00"), "XSD", "/halsoforfragan/skapad", 5
    ),
    "skapad not a date": Bad(
        replaced("2024-03-01T09:15:00+01:00", "igår"), "XSD", "/halsoforfragan/skapad", 5
    ),
    "skapad hour 24": Bad(
        replaced("09:15:00+01:00", "24:00:00+01:00"), "XSD", "/halsoforfragan/skapad", 5
    ),
    "givet 30 February": Bad(
        replaced("<givet>2024-02-20", "<givet>2024-02-30"),
        "XSD",
        "/halsoforfragan/samtycke/givet",
        L_GIVET,
    ),
    "givet with time zone": Bad(
        replaced("<givet>2024-02-20", "<givet>2024-02-20Z"),
        "XSD",
        "/halsoforfragan/samtycke/givet",
        L_GIVET,
    ),
    "id not a UUID": Bad(
        replaced("3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f", "ärende-17"),
        "XSD",
        "/halsoforfragan/id",
        4,
    ),
    "elements out of order": Bad(
        swapped("<id>.*?</id>", "<skapad>.*?</skapad>"), "XSD", "/halsoforfragan/skapad", 4
    ),
    "mottagare after person": Bad(
        swapped(r"<mottagare>\s*<vardcentral.*?</mottagare>", "<person>.*?</person>"),
        "XSD",
        "/halsoforfragan/person",
        line_of("<mottagare>"),
    ),
    "unknown extra element": Bad(
        replaced("</avsandare>", "  <extra>x</extra>\n  </avsandare>"),
        "XSD",
        "/halsoforfragan/avsandare/extra",
        line_of("</avsandare>"),
    ),
    "repeated element": Bad(
        replaced("</id>", "</id>\n  <id>3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f</id>"),
        "XSD",
        "/halsoforfragan/id[2]",
        5,
    ),
    "unknown attribute": Bad(
        replaced('version="1.0">', 'version="1.0" foo="x">'), "XSD", "/halsoforfragan/@foo", 3
    ),
    "text in element-only content": Bad(
        replaced("<person>", "<person>Tolvan"), "XSD", "/halsoforfragan/person"
    ),
    "unknown question code": Bad(
        replaced('kod="SIP"', 'kod="HALSA"'),
        "XSD",
        "/halsoforfragan/fragor/fraga[4]/@kod",
        line_of('kod="SIP"'),
    ),
    "unknown titel": Bad(
        replaced(">socialsekreterare<", ">kurator<"),
        "XSD",
        "/halsoforfragan/avsandare/handlaggare/titel",
    ),
    "unknown consent form": Bad(
        replaced("<form>skriftligt", "<form>digitalt"), "XSD", "/halsoforfragan/samtycke/form"
    ),
    "unknown syfte": Bad(
        replaced("PLANERING_ARBETE_STUDIER", "FORSKNING"), "XSD", "/halsoforfragan/samtycke/syfte"
    ),
    "unknown consent recipient": Bad(
        replaced(">arbetsmarknad<", ">forsakringskassan<"),
        "XSD",
        "/halsoforfragan/samtycke/mottagare[2]",
    ),
    "language not ISO 639-1": Bad(
        replaced('sprak="ar"', 'sprak="arabiska"'),
        "XSD",
        "/halsoforfragan/person/tolkbehov/@sprak",
    ),
    "bad e-mail": Bad(
        replaced("asa.lindqvist@malmo.se", "asa.lindqvist"),
        "XSD",
        "/halsoforfragan/avsandare/handlaggare/epost",
    ),
    "bad phone": Bad(
        replaced("070-123 45 67", "ring Tolvan"), "XSD", "/halsoforfragan/person/telefon"
    ),
    "too long bakgrund": Bad(
        removed(r"(?<=<bakgrund>).*?(?=</bakgrund>)").replace(
            "<bakgrund></bakgrund>", "<bakgrund>" + "å" * 4001 + "</bakgrund>"
        ),
        "XSD",
        "/halsoforfragan/bakgrund",
        line_of("<bakgrund>"),
    ),
    "blank bakgrund": Bad(
        removed(r"(?<=<bakgrund>).*?(?=</bakgrund>)").replace(
            "<bakgrund></bakgrund>", "<bakgrund>  \n  </bakgrund>"
        ),
        "XSD",
        "/halsoforfragan/bakgrund",
    ),
    "too long name": Bad(
        replaced("Tolvan Tolvansson", "T" * 201), "XSD", "/halsoforfragan/person/namn"
    ),
    "consent file not a PDF name": Bad(
        replaced("samtycke-tolvansson.pdf", "samtycke.exe"),
        "XSD",
        "/halsoforfragan/samtycke/bilaga/@filnamn",
    ),
    # -- identifiers
    "personnummer check digit": Bad(
        replaced("191212121212", "191212121213"), "PERSONNUMMER", PNR, L_PNR
    ),
    "personnummer impossible date": Bad(
        replaced("191212121212", "202302301234"), "PERSONNUMMER", PNR, L_PNR
    ),
    "personnummer with hyphen": Bad(
        replaced("191212121212", "19121212-1212"), "PERSONNUMMER", PNR, L_PNR
    ),
    "personnummer 10 digits": Bad(
        replaced("191212121212", "1212121212"), "PERSONNUMMER", PNR, L_PNR
    ),
    "personnummer born after skapad": Bad(
        replaced("191212121212", "202403152388"), "PERSONNUMMER", PNR, L_PNR
    ),
    "HSA-id without hyphen": Bad(
        replaced('hsaId="SE2321000255-K001">', 'hsaId="SE2321000255K001">'),
        "HSA_ID",
        VC_HSA,
        L_VC,
    ),
    "HSA-id with 9 digits": Bad(
        replaced('hsaId="SE2321000255-K001">', 'hsaId="SE232100025-K001">'),
        "HSA_ID",
        VC_HSA,
        L_VC,
    ),
    "HSA-id too long": Bad(
        replaced('hsaId="SE2321000255-K001">', f'hsaId="SE2321000255-{"K" * 19}">'),
        "HSA_ID",
        VC_HSA,
        L_VC,
    ),
    "HSA-id lower-case se": Bad(
        replaced('hsaId="SE2321000255-K001"/>', 'hsaId="se2321000255-K001"/>'),
        "HSA_ID",
        LAMNARE_HSA,
        L_LAMNARE,
    ),
    "HSA-id with underscore": Bad(
        replaced('hsaId="SE2321000255-K001"/>', 'hsaId="SE2321000255-K_01"/>'),
        "HSA_ID",
        LAMNARE_HSA,
        L_LAMNARE,
    ),
    "organisation id without scheme": Bad(
        replaced("<organisation>0203:malmo.se", "<organisation>malmo.se"),
        "ORG_ID",
        "/halsoforfragan/avsandare/organisation",
    ),
    "functional address of another organisation": Bad(
        replaced("sdk:ebb-oster:0203:malmo.se", "sdk:ebb-oster:0203:lund.se"),
        "FUNKTIONSADRESS",
        "/halsoforfragan/avsandare/funktionsadress",
    ),
    "functional address as e-mail": Bad(
        replaced("sdk:ebb-oster:0203:malmo.se", "ebb-oster@malmo.se"),
        "FUNKTIONSADRESS",
        "/halsoforfragan/avsandare/funktionsadress",
    ),
    # -- rules beyond the schema
    "OVRIGT without text": Bad(
        replaced(
            '<fraga kod="OVRIGT">Finns det hinder för arbetsträning på förmiddagar?</fraga>',
            '<fraga kod="OVRIGT"/>',
        ),
        "FRAGA_OVRIGT_TEXT",
        "/halsoforfragan/fragor/fraga[5]",
        L_FRAGA5,
    ),
    "OVRIGT with only blanks": Bad(
        replaced("Finns det hinder för arbetsträning på förmiddagar?", "   \n   "),
        "FRAGA_OVRIGT_TEXT",
        "/halsoforfragan/fragor/fraga[5]",
        L_FRAGA5,
    ),
    "duplicate question code": Bad(
        replaced('<fraga kod="SIP"/>', '<fraga kod="SIP"/><fraga kod="AKTIVITETSFORMAGA"/>'),
        "FRAGA_DUPLICATE",
        "/halsoforfragan/fragor/fraga[5]",
        line_of('<fraga kod="SIP"/>'),
    ),
    "duplicate consent recipient": Bad(
        replaced(">arbetsmarknad<", ">socialtjanst<"),
        "SAMTYCKE_MOTTAGARE_DUPLICATE",
        "/halsoforfragan/samtycke/mottagare[2]",
    ),
    "svarSenast before skapad": Bad(
        replaced("<svarSenast>2024-03-31", "<svarSenast>2024-02-28"),
        "SVAR_SENAST",
        "/halsoforfragan/svarSenast",
        line_of("<svarSenast>"),
    ),
    "svarSenast on the day of skapad": Bad(
        replaced("<svarSenast>2024-03-31", "<svarSenast>2024-03-01"),
        "SVAR_SENAST",
        "/halsoforfragan/svarSenast",
    ),
    "bilaga not base64": Bad(
        replaced(BILAGA_TEXT, "JVBERi0xLjQK*not base64*"),
        "BILAGA",
        "/halsoforfragan/samtycke/bilaga",
        line_of("<bilaga"),
    ),
    "bilaga not a PDF": Bad(
        replaced(BILAGA_TEXT, base64.b64encode(b"MZ\x90\x00 not a pdf").decode()),
        "BILAGA",
        "/halsoforfragan/samtycke/bilaga",
    ),
    # -- consent rules (DESIGN 5.2)
    "C1 consent given after skapad": Bad(
        replaced("<givet>2024-02-20", "<givet>2024-03-02"),
        "C1",
        "/halsoforfragan/samtycke/givet",
        L_GIVET,
    ),
    "C2 consent expired": Bad(
        replaced("<giltigtTill>2025-02-20", "<giltigtTill>2024-02-29"),
        "C2",
        "/halsoforfragan/samtycke/giltigtTill",
        L_GILTIG,
    ),
    "C3 consent longer than 12 months": Bad(
        replaced("<giltigtTill>2025-02-20", "<giltigtTill>2025-02-21"),
        "C3",
        "/halsoforfragan/samtycke/giltigtTill",
        L_GILTIG,
    ),
    "C4 consent for another VC": Bad(
        replaced('hsaId="SE2321000255-K001"/>', 'hsaId="SE2321000255-K002"/>'),
        "C4",
        "/halsoforfragan/samtycke/uppgiftslamnare",
        L_LAMNARE,
    ),
    "C5 consent not for socialtjanst": Bad(
        removed(r"<mottagare>socialtjanst</mottagare>\s*"),
        "C5",
        "/halsoforfragan/samtycke/mottagare",
    ),
    "C6 oral consent undocumented": Bad(
        replaced("<form>skriftligt", "<form>muntligt").replace(
            "<dokumenteratAv>Åsa Lindqvist</dokumenteratAv>", ""
        ),
        "C6",
        "/halsoforfragan/samtycke/form",
        line_of("<form>"),
    ),
    "C7 consent withdrawn": Bad(
        VALID, "C7", "/halsoforfragan/samtycke/givet", L_GIVET, withdrawals=(dt.date(2024, 2, 25),)
    ),
}
for _name, _pattern in MISSING:
    BAD[f"missing {_name} ({_pattern[:24]})"] = Bad(removed(_pattern), "XSD", mentions=_name)
for _path, _old, _new in MISSING_ATTRIBUTES:
    BAD[f"missing {_path}"] = Bad(replaced(_old, _new), "XSD", path=_path)


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_with_its_code_and_place(case: Bad) -> None:
    with pytest.raises(FormError) as info:
        form = parse_halsoforfragan(case.as_bytes(), limits=case.limits)
        check_consent(
            form, sender_kind="socialtjanst", withdrawals=case.withdrawals
        ).raise_for_failures()
    issues = [i for i in info.value.issues if i.code == case.code]
    assert issues, f"expected {case.code}, got {info.value.codes}"
    found = issues[0]
    assert found.title and not found.title.startswith(case.code)  # a Swedish title
    if case.path is not None:
        assert case.path in [i.path for i in issues]
    if case.line is not None:
        assert case.line in [i.line for i in issues]
    if case.mentions is not None:
        assert any(re.search(rf"\b{case.mentions}\b", i.detail) for i in issues), issues
    assert all(i.line is None or i.line > 0 for i in info.value.issues)


def test_there_are_at_least_forty_bad_inputs() -> None:
    assert len(BAD) >= 40


# --- the valid form ------------------------------------------------------------------------


def test_valid_form_is_typed() -> None:
    form = intake(VALID.encode())
    assert form.id == "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"
    assert form.skapad == dt.datetime(2024, 3, 1, 8, 15, tzinfo=dt.UTC)
    assert form.skapad.utcoffset() == dt.timedelta(hours=1)
    assert form.avsandare.organisation == "0203:malmo.se"
    assert form.avsandare.enhet == "Ekonomiskt bistånd och boende Öster"
    assert form.avsandare.funktionsadress == "sdk:ebb-oster:0203:malmo.se"
    assert form.avsandare.handlaggare.titel is Titel.SOCIALSEKRETERARE
    assert form.mottagare.hsa_id == "SE2321000255-K001"
    assert form.mottagare.namn == "Vårdcentralen Kryddgården"
    assert form.person.personnummer == "191212121212"
    assert form.person.namn == "Tolvan Tolvansson"
    assert form.person.tolkbehov_sprak == "ar"
    assert form.person.fodelsedatum == dt.date(1912, 12, 12)
    samtycke = form.samtycke
    assert (samtycke.givet, samtycke.giltigt_till) == (dt.date(2024, 2, 20), dt.date(2025, 2, 20))
    assert samtycke.form is SamtyckeForm.SKRIFTLIGT
    assert samtycke.mottagare == (Mottagarkategori.SOCIALTJANST, Mottagarkategori.ARBETSMARKNAD)
    assert samtycke.bilaga is not None
    assert samtycke.bilaga.filnamn == "samtycke-tolvansson.pdf"
    assert samtycke.bilaga.innehall.startswith(b"%PDF-1.4")
    assert form.bakgrund.startswith("Tolvan har haft") and form.bakgrund.endswith("i dag.")
    assert [f.kod for f in form.fragor] == [
        FragaKod.AKTIVITETSFORMAGA,
        FragaKod.BEGRANSNINGAR,
        FragaKod.REKOMMENDATIONER,
        FragaKod.SIP,
        FragaKod.OVRIGT,
    ]
    assert form.fragor[0].text is None
    assert form.fragor[4].text == "Finns det hinder för arbetsträning på förmiddagar?"
    assert form.svar_senast == dt.date(2024, 3, 31) and form.svar_senast_angiven
    assert form.line("/halsoforfragan/samtycke/giltigtTill") == L_GILTIG


def test_every_element_has_its_path_and_line() -> None:
    # source_lines walks the tree once; element_path, the definition, walks up from each.
    root = parse_xml(VALID.encode())
    expected = tuple((element_path(e), e.sourceline) for e in root.iter(etree.Element))
    assert source_lines(root) == expected
    assert any(path.endswith("fraga[2]") for path, _ in expected)  # repeated siblings counted
    form = intake(VALID.encode())
    assert form.line("/halsoforfragan/fragor/fraga[2]") == line_of('<fraga kod="BEGRANSNINGAR"')


def test_personal_data_stays_out_of_repr() -> None:
    text = repr(intake(VALID.encode()))
    for secret in ("191212121212", "Tolvan", "070-123", "ryggsmärta", "%PDF"):
        assert secret not in text


def test_svar_senast_defaults_to_thirty_days_after_skapad() -> None:
    form = parse_halsoforfragan(removed(r"\s*<svarSenast>.*?</svarSenast>").encode())
    assert form.svar_senast == dt.date(2024, 3, 31)
    assert not form.svar_senast_angiven


def test_skapad_date_is_the_swedish_date() -> None:
    # 23:30 UTC on 29 February is already 1 March in Sweden.
    data = replaced("2024-03-01T09:15:00+01:00", "2024-02-29T23:30:00Z").encode()
    form = parse_halsoforfragan(data)
    assert form.skapad_datum == dt.date(2024, 3, 1)
    assert form.svar_senast == dt.date(2024, 3, 31)


def test_upper_case_uuid_is_normalised() -> None:
    data = replaced("3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f", "3F2C8D4E-9A1B-4C5D-8E7F-0A1B2C3D4E5F")
    assert parse_halsoforfragan(data.encode()).id == "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"


def test_samordningsnummer_is_accepted() -> None:
    form = parse_halsoforfragan(replaced("191212121212", "191212721219").encode())
    assert form.person.samordningsnummer
    assert form.person.fodelsedatum == dt.date(1912, 12, 12)


def test_minimal_form_without_optional_elements() -> None:
    text = VALID
    for pattern in (
        r"\s*<telefon>070-123 45 67</telefon>",
        r"\s*<tolkbehov[^>]*/>",
        r"\s*<dokumenteratAv>.*?</dokumenteratAv>",
        r"\s*<bilaga.*?</bilaga>",
        r"\s*<planeradeInsatser>.*?</planeradeInsatser>",
        r"\s*<svarSenast>.*?</svarSenast>",
    ):
        text = re.sub(pattern, "", text, count=1, flags=re.S)
    form = intake(text.encode())
    assert form.person.telefon is None and form.person.tolkbehov_sprak is None
    assert form.samtycke.bilaga is None and form.samtycke.dokumenterat_av is None
    assert form.planerade_insatser is None


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(VALID.split("\n", 1)[1], id="no XML declaration"),
        pytest.param(replaced('encoding="UTF-8"', 'encoding="utf-8"'), id="lower-case utf-8"),
        pytest.param("\ufeff" + VALID, id="UTF-8 BOM"),
        pytest.param(VALID.replace("\n", "\r\n"), id="CRLF line ends"),
        pytest.param(replaced("<bakgrund>", "<!-- intern anteckning --><bakgrund>"), id="comment"),
        pytest.param(
            replaced("Tolvan Tolvansson</namn>", "Tolvan <!-- x -->Tolvansson</namn>"),
            id="comment inside text",
        ),
        pytest.param(replaced("ryggsmärta", "<![CDATA[ryggsmärta & <sömn>]]>"), id="CDATA section"),
        pytest.param(
            VALID.replace("<", "<hf:")
            .replace("<hf:/", "</hf:/")
            .replace("</hf:/", "</hf:")
            .replace("<hf:?xml", "<?xml")
            .replace("<hf:!--", "<!--")
            .replace('xmlns="urn', 'xmlns:hf="urn'),
            id="namespace prefix",
        ),
    ],
)
def test_harmless_variants_are_accepted(variant: str) -> None:
    form = intake(variant.encode("utf-8"))
    assert form.person.namn == "Tolvan Tolvansson"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("070-123 45 67", "Tolvans hemliga nummer"),
        ("070-123 45 67", "hemliga\nnumret"),
        ("<givet>2024-02-20", "<givet>hemliga"),
        ('sprak="ar"', 'sprak="hemliga"'),
        ("Finns det hinder för arbetsträning på förmiddagar?", "hemliga " * 600),
    ],
)
def test_schema_detail_does_not_repeat_the_value(old: str, new: str) -> None:
    with pytest.raises(FormError) as info:
        parse_halsoforfragan(replaced(old, new).encode())
    assert info.value.codes == ("XSD",)
    assert "hemliga" not in str(info.value.issues)


def test_issue_location_names_path_and_line() -> None:
    with pytest.raises(FormError) as info:
        intake(replaced("<giltigtTill>2025-02-20", "<giltigtTill>2024-02-29").encode())
    (found,) = info.value.issues
    assert found.location == f"/halsoforfragan/samtycke/giltigtTill, rad {L_GILTIG}"


def test_every_schema_problem_is_listed_at_once() -> None:
    data = replaced(">socialsekreterare<", ">kurator<")
    data = replaced("<form>skriftligt", "<form>digitalt", data)
    data = replaced('sprak="ar"', 'sprak="arabiska"', data)
    with pytest.raises(FormError) as info:
        parse_halsoforfragan(data.encode())
    assert [i.path for i in info.value.issues] == [
        "/halsoforfragan/avsandare/handlaggare/titel",
        "/halsoforfragan/person/tolkbehov/@sprak",
        "/halsoforfragan/samtycke/form",
    ]


def test_parse_refuses_text() -> None:
    with pytest.raises(TypeError):
        parse_halsoforfragan(VALID)  # type: ignore[arg-type]


def test_form_error_survives_pickling() -> None:
    with pytest.raises(FormError) as info:
        parse_halsoforfragan(b"<inte xml")
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.issues == info.value.issues and copy.codes == ("XML_SYNTAX",)
