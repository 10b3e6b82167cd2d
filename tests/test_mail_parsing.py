"""Reading submitted mail: the recipients the gateway serves, the one XML or PDF attachment."""

from __future__ import annotations

import base64
import io
import os
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from gateway.mail.parsing import (
    BODY_CHUNK,
    MAX_PARTS,
    PDF,
    MailContentError,
    RecipientKind,
    attachment_file,
    classify_recipient,
    pdf_attachment,
    xml_attachment,
)

DOMAINS = ["localhost", "gateway.example.org"]
XML = (
    "<?xml version='1.0' encoding='UTF-8'?>\n<halsoforfragan>Åsa = 1</halsoforfragan>\n"
).encode()
TOKEN = "Ab3dEf6hIj9kLm2nOp5q"


def mail(*attachments: tuple[bytes, str, str, str | None], body: str = "Hej") -> EmailMessage:
    """Return a mail with a text body and attachments (data, maintype, subtype, filename)."""
    message = EmailMessage()
    message["From"] = "ebb@malmo.example"
    message["To"] = "halsoforfragan@localhost"
    message["Subject"] = "Hälsoförfrågan"
    message.set_content(body)
    for data, maintype, subtype, filename in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def raw(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP_POLICY)


# --- recipients ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "halsoforfragan@elsewhere.example",  # a domain we do not serve
        "postmaster@localhost",
        "halsoforfragan",  # no domain
        "halsoforfragan@localhost.evil.example",
        "svar+short@localhost",  # token too short to be one of ours
        "svar+bad/token-characters!!@localhost",
        "svar@localhost",
        "",
    ],
)
def test_addresses_the_gateway_does_not_serve_are_unknown(address: str) -> None:
    assert classify_recipient(address, DOMAINS) is None


@pytest.mark.parametrize(
    "address", ["halsoforfragan@localhost", "Halsoforfragan@Gateway.Example.ORG"]
)
def test_the_intake_address_is_known_on_every_configured_domain(address: str) -> None:
    recipient = classify_recipient(address, DOMAINS)
    assert recipient is not None
    assert recipient.kind is RecipientKind.INTAKE


def test_a_reply_address_carries_its_token_as_written() -> None:
    recipient = classify_recipient(f"svar+{TOKEN}@localhost", DOMAINS)
    assert recipient is not None
    assert recipient.kind is RecipientKind.REPLY
    assert recipient.token == TOKEN


# --- refusals ------------------------------------------------------------------------------------


def _code(data: bytes) -> MailContentError:
    with pytest.raises(MailContentError) as raised:
        xml_attachment(data)
    return raised.value


def test_a_mail_without_an_xml_attachment_is_refused_saying_what_to_attach() -> None:
    error = _code(raw(mail((b"%PDF-1.4", "application", "pdf", "samtycke.pdf"))))
    assert error.code == "MAIL_NO_XML"
    assert "application/xml" in error.reason


def test_a_mail_with_xml_only_in_its_text_is_refused() -> None:
    error = _code(raw(mail(body=XML.decode())))
    assert error.code == "MAIL_NO_XML"


def test_two_xml_attachments_are_refused() -> None:
    message = mail((XML, "application", "xml", "a.xml"), (XML, "text", "xml", "b.xml"))
    error = _code(raw(message))
    assert error.code == "MAIL_SEVERAL_XML"
    assert "2 XML-bilagor" in error.reason


def test_an_empty_xml_attachment_is_refused() -> None:
    error = _code(raw(mail((b"", "application", "xml", "tom.xml"))))
    assert error.code == "MAIL_XML_EMPTY"


@pytest.mark.parametrize("body", [b"PD94bWwg*!dmVyc2lvbj0=", b"PD94bWwgdmVyc2lvbj0"])
def test_broken_base64_is_refused(body: bytes) -> None:
    data = (
        b"From: a@b.example\r\nTo: halsoforfragan@localhost\r\nSubject: x\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/xml\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n"
    )
    assert _code(data).code == "MAIL_ENCODING"


def test_an_unknown_transfer_encoding_is_refused() -> None:
    data = (
        b"From: a@b.example\r\nTo: halsoforfragan@localhost\r\nSubject: x\r\n"
        b"Content-Type: application/xml\r\nContent-Transfer-Encoding: x-rot13\r\n\r\n"
        b"<n/>\r\n"
    )
    assert _code(data).code == "MAIL_ENCODING"


def test_an_xml_file_inside_a_forwarded_mail_is_not_this_mails_attachment() -> None:
    inner = mail((XML, "application", "xml", "form.xml"))
    outer = mail()
    outer.add_attachment(inner)
    assert _code(raw(outer)).code == "MAIL_NO_XML"


def test_a_mail_with_too_many_parts_is_refused() -> None:
    parts = [(b"x", "application", "octet-stream", f"f{i}.bin") for i in range(MAX_PARTS + 1)]
    assert _code(raw(mail(*parts))).code == "MAIL_TOO_MANY_PARTS"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff\xfe garbage", b"Content-Type: multipart/mixed\r\n\r\nno boundary at all"],
)
def test_garbage_is_refused_with_a_reason_not_a_crash(data: bytes) -> None:
    error = _code(data)
    assert error.code in {"MAIL_NO_XML", "MAIL_UNREADABLE"}
    assert error.reason


# --- what is found ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maintype", "subtype", "filename"),
    [
        ("application", "xml", "form.xml"),
        ("text", "xml", None),  # text/xml, unnamed
        ("application", "octet-stream", "HALSOFORFRAGAN.XML"),  # named *.xml
    ],
)
def test_the_one_xml_attachment_is_found_and_decoded(
    maintype: str, subtype: str, filename: str | None
) -> None:
    message = mail((b"%PDF-1.4", "application", "pdf", "samtycke.pdf"),
                   (XML, maintype, subtype, filename))
    assert xml_attachment(raw(message)) == XML


def test_a_quoted_printable_attachment_is_decoded() -> None:
    message = mail()
    message.add_attachment(XML, maintype="application", subtype="xml", filename="form.xml",
                           cte="quoted-printable")
    data = raw(message)
    assert b"=C3=85sa" in data
    assert xml_attachment(data) == XML


def test_a_single_part_xml_message_is_its_own_attachment() -> None:
    data = (
        b"From: a@b.example\r\nTo: halsoforfragan@localhost\r\nSubject: x\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/xml\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(XML).replace(b"\n", b"\r\n")
    )
    assert xml_attachment(data) == XML


# --- the answer's PDF: the same walk, its own words -------------------------------------------


def _pdf_refusal(data: bytes) -> MailContentError:
    with pytest.raises(MailContentError) as caught:
        pdf_attachment(data)
    return caught.value


def test_the_one_pdf_attachment_is_found_beside_an_xml_file() -> None:
    pdf = b"%PDF-1.7\nsvar\n"
    message = mail((XML, "application", "xml", "kopia.xml"),
                   (pdf, "application", "octet-stream", "SVAR.PDF"))
    assert pdf_attachment(raw(message)) == pdf


def test_pdf_refusals_name_the_pdf_not_the_xml() -> None:
    # Before the one walk, an empty or badly encoded answer PDF was refused as "XML-bilagan".
    empty = _pdf_refusal(raw(mail((b"", "application", "pdf", "svar.pdf"))))
    assert (empty.code, empty.reason) == ("MAIL_PDF_EMPTY", "PDF-bilagan är tom.")
    data = (
        b"From: a@b.example\r\nTo: svar+" + TOKEN.encode() + b"@localhost\r\nSubject: x\r\n"
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: x-rot13\r\n\r\n"
        b"%PDF-1.7\r\n"
    )
    encoding = _pdf_refusal(data)
    assert encoding.code == "MAIL_ENCODING" and encoding.reason.startswith("PDF-bilagan")


@pytest.mark.parametrize(("count", "code"), [(0, "MAIL_NO_PDF"), (2, "MAIL_SEVERAL_PDF")])
def test_an_answer_mail_carries_exactly_one_pdf(count: int, code: str) -> None:
    message = mail(*[(b"%PDF-1.7\n", "application", "pdf", f"{i}.pdf") for i in range(count)])
    assert _pdf_refusal(raw(message)).code == code


def test_too_many_parts_are_refused_for_answers_too() -> None:
    message = mail(*[(b"x", "text", "plain", f"{i}.txt") for i in range(MAX_PARTS + 1)])
    assert _pdf_refusal(raw(message)).code == "MAIL_TOO_MANY_PARTS"


# --- read from a file, a piece at a time ------------------------------------------------------


def test_a_large_attachment_is_decoded_from_the_file_into_a_file() -> None:
    pdf = b"%PDF-1.7\n" + os.urandom(3 * BODY_CHUNK + 17)
    message = mail((XML, "application", "xml", "kopia.xml"), (pdf, "application", "pdf", "s.pdf"))
    with attachment_file(io.BytesIO(raw(message)), PDF) as found:
        assert found.read() == pdf


def test_a_large_quoted_printable_attachment_keeps_its_soft_line_breaks() -> None:
    text = ("Åsa = 1 " * (BODY_CHUNK // 4)).encode()
    xml = b"<?xml version='1.0' encoding='UTF-8'?>\n<t>" + text + b"</t>\n"
    message = mail()
    message.add_attachment(xml, maintype="application", subtype="xml", filename="form.xml",
                           cte="quoted-printable")
    assert xml_attachment(io.BytesIO(raw(message))) == xml


def test_an_attachment_in_a_nested_multipart_is_found_and_ends_at_its_boundary() -> None:
    inner = mail((XML, "application", "xml", "form.xml"))
    outer = mail((b"%PDF-1.4", "application", "pdf", "samtycke.pdf"))
    outer.attach(inner)  # a multipart inside the multipart, not an attached mail
    outer.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="b.pdf")
    assert xml_attachment(raw(outer)) == XML


def test_broken_base64_in_a_large_attachment_is_refused() -> None:
    body = base64.encodebytes(os.urandom(2 * BODY_CHUNK)).replace(b"\n", b"\r\n")
    body = body[:BODY_CHUNK] + b"*!" + body[BODY_CHUNK:]
    data = (
        b"From: a@b.example\r\nTo: halsoforfragan@localhost\r\nSubject: x\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/xml\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    assert _code(data).code == "MAIL_ENCODING"
