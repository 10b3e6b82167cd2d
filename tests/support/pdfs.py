"""Signed test PDFs: a development PKI with good and bad certificates, plain PDFs with signature
fields, signing (pyHanko and poppler's pdfsig), co-signing and every way to spoil a file."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from common.answer_pdf import REFERENCE_INFO_KEY
from signing.certificates import (
    CertificateAuthority,
    IssuedCertificate,
    create_ca,
    issue_person_certificate,
    issue_tsa_certificate,
    load_ca,
    make_crl,
)
from signing.devpki import Person, PkiLayout
from signing.pades import AnswerReport, apply_signer_rule, validate_answer
from signing.pdfsign import sign_answer, timestamper_from_files
from signing.trust import TrustStore, load_trust_store

PASSPHRASE = "demo"
REKO = Person("SE2321000255-R001", "Karin Persson")
REKO_OTHER_VC = Person("SE2321000255-R002", "Olle Andersson")
PHYSICIAN = Person("SE2321000255-L001", "Johan Ek")
REFERENCE = "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"
FIELDS = ("reko", "lakare")
UTC = dt.UTC


@dataclass
class TestPki:
    """The development PKI made by init_pki, plus certificates it must refuse, made on demand."""

    layout: PkiLayout
    _extra: dict[str, bytes] = field(default_factory=dict)
    _timestamper: DummyTimeStamper | None = None

    __test__ = False  # a helper, not a test class

    @property
    def ca(self) -> CertificateAuthority:
        return load_ca(self.layout.ca_cert, self.layout.ca_key)

    def store(self, *, crls: Sequence[x509.CertificateRevocationList] | None = None) -> TrustStore:
        """The trust store the gateway would use: the CA and its CRL (or the CRLs given)."""
        if crls is None:
            return load_trust_store([self.layout.ca_cert], [self.layout.crl])
        return TrustStore.of([self.ca.cert], crls)

    def reko_p12(self, person: Person = REKO) -> bytes:
        return self.layout.reko_pkcs12(person.hsa_id).read_bytes()

    def physician_p12(self, person: Person = PHYSICIAN) -> bytes:
        return self.layout.physician_pkcs12(person.hsa_id).read_bytes()

    def timestamper(self) -> DummyTimeStamper:
        """The development TSA; one instance reused across signatures (see PITFALLS)."""
        if self._timestamper is None:
            self._timestamper = timestamper_from_files(self.layout.tsa_cert, self.layout.tsa_key)
        return self._timestamper

    def extra_p12(self, kind: str) -> bytes:
        """A PKCS#12 answer validation must refuse: "expired", "foreign_ca" (issued by a CA
        that is not trusted), "no_nonrepudiation" or "revoked" (see revoked_crl)."""
        if kind not in self._extra:
            self._extra[kind] = self._issue(kind).to_pkcs12(PASSPHRASE)
        return self._extra[kind]

    def revoked_crl(self) -> x509.CertificateRevocationList:
        """A CRL of the development CA that lists the "revoked" certificate."""
        from signing.certificates import load_pkcs12

        revoked = load_pkcs12(self.extra_p12("revoked"), PASSPHRASE).cert
        return make_crl(self.ca, revoked=[revoked])

    def _issue(self, kind: str) -> IssuedCertificate:
        now = dt.datetime.now(UTC)
        common = {"hsa_id": REKO.hsa_id, "name": REKO.name, "organisation": "Region Skåne"}
        if kind == "expired":
            return issue_person_certificate(
                self.ca, **common, not_before=now - dt.timedelta(days=800),
                not_after=now - dt.timedelta(days=70),
            )
        if kind == "foreign_ca":
            return issue_person_certificate(create_ca(common_name="Främmande CA"), **common)
        if kind == "no_nonrepudiation":
            return issue_person_certificate(self.ca, **common, key_usage={"digital_signature"})
        if kind == "revoked":
            return issue_person_certificate(self.ca, **common)
        raise ValueError(kind)


# --- plain PDFs ------------------------------------------------------------------------------


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    """Return the PDF's text as poppler's pdftotext reads it, whitespace collapsed (skips the
    test where poppler-utils is missing)."""
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext missing (Debian: poppler-utils)")
    path = tmp_path / "svar.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [tool, "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True,
        timeout=60,
    )
    return " ".join(result.stdout.split())


def plain_pdf(
    *,
    reference: str | None = REFERENCE,
    fields: Sequence[str] = FIELDS,
    text: str = "Svar på hälsoförfrågan",
    extra_catalog: dict[str, generic.PdfObject] | None = None,
    annotations: Sequence[generic.DictionaryObject] = (),
    padding: int = 0,
) -> bytes:
    """A one-page PDF with the reference in Info (if given), empty signature fields and the
    given annotations on its page; `padding` random bytes in an unused stream object make it
    that much larger."""
    writer = PdfFileWriter(stream_xrefs=False)
    page = _page(writer, text)
    if annotations:
        page[pdf_name("/Annots")] = generic.ArrayObject(writer.add_object(a) for a in annotations)
    writer.insert_page(page)
    if reference is not None:
        info = generic.DictionaryObject(
            {pdf_name(REFERENCE_INFO_KEY): generic.TextStringObject(reference)}
        )
        writer.set_info(writer.add_object(info))
    for index, name in enumerate(fields):
        box = (50 + index * 250, 50, 250 + index * 250, 120)
        append_signature_field(writer, SigFieldSpec(name, box=box))
    for key, value in (extra_catalog or {}).items():
        writer.root[pdf_name(key)] = value
    if padding:
        stream = generic.StreamObject(stream_data=os.urandom(padding))
        writer.root[pdf_name("/KryddPadding")] = writer.add_object(stream)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _page(writer: PdfFileWriter, text: str) -> generic.DictionaryObject:
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
    }))
    safe = text.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    resources = generic.DictionaryObject({
        pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font}),
    })
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 760 Td (" + safe + b") Tj ET")
    stream.compress()
    return generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Page"),
        pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
        pdf_name("/Resources"): resources,
        pdf_name("/Contents"): writer.add_object(stream),
    })


def javascript_catalog() -> dict[str, generic.PdfObject]:
    """Catalog entries that run JavaScript when the file opens."""
    action = generic.DictionaryObject({
        pdf_name("/S"): pdf_name("/JavaScript"),
        pdf_name("/JS"): generic.TextStringObject("app.alert('hej');"),
    })
    return {"/OpenAction": action}


def launch_catalog() -> dict[str, generic.PdfObject]:
    action = generic.DictionaryObject({
        pdf_name("/S"): pdf_name("/Launch"),
        pdf_name("/F"): generic.TextStringObject("calc.exe"),
    })
    return {"/OpenAction": action}


def outward_action(kind: str) -> generic.DictionaryObject:
    """An action dictionary of type `kind` (e.g. "/URI") pointing out of the document."""
    target: dict[str, generic.PdfObject] = {
        "/URI": generic.TextStringObject("https://example.org/hamta"),
        "/GoToR": generic.TextStringObject("\\\\server\\share\\svar.pdf"),
        "/GoToE": generic.NameObject("/bilaga"),
        "/SubmitForm": generic.TextStringObject("https://example.org/ta-emot"),
        "/ImportData": generic.TextStringObject("data.fdf"),
    }
    action = generic.DictionaryObject({pdf_name("/S"): pdf_name(kind)})
    key = "/URI" if kind == "/URI" else "/F"
    if kind in target:
        action[pdf_name(key)] = target[kind]
    return action


def action_catalog(kind: str, placement: str) -> dict[str, generic.PdfObject]:
    """Catalog entries holding an action of type `kind` as the open action ("open"), as a
    document additional action ("additional") or in the name tree ("names")."""
    action = outward_action(kind)
    if placement == "open":
        return {"/OpenAction": action}
    if placement == "additional":
        return {"/AA": generic.DictionaryObject({pdf_name("/WC"): action})}
    if placement == "names":
        tree = generic.DictionaryObject({pdf_name("/Names"): generic.ArrayObject(
            [generic.TextStringObject("start"), action])})
        return {"/Names": generic.DictionaryObject({pdf_name("/JavaScript"): tree})}
    raise ValueError(placement)


def link_annotation(kind: str) -> generic.DictionaryObject:
    """A link annotation on the page whose action is of type `kind`."""
    return generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/Link"),
        pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (72, 700, 300, 720))),
        pdf_name("/A"): outward_action(kind),
    })


def embedded_file_catalog() -> dict[str, generic.PdfObject]:
    """A /Names /EmbeddedFiles tree with one attachment."""
    file_stream = generic.StreamObject(
        {pdf_name("/Type"): pdf_name("/EmbeddedFile")}, stream_data=b"MZ not really a program"
    )
    spec = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Filespec"),
        pdf_name("/F"): generic.TextStringObject("bilaga.exe"),
        pdf_name("/EF"): generic.DictionaryObject({pdf_name("/F"): file_stream}),
    })
    names = generic.DictionaryObject({
        pdf_name("/EmbeddedFiles"): generic.DictionaryObject({
            pdf_name("/Names"): generic.ArrayObject([generic.TextStringObject("bilaga.exe"), spec])
        })
    })
    return {"/Names": names}


# --- signing ----------------------------------------------------------------------------------


def sign(
    pdf: bytes,
    p12: bytes,
    field_name: str = "reko",
    *,
    subfilter: str = "pades",
    timestamper: DummyTimeStamper | None = None,
) -> bytes:
    return sign_answer(pdf, p12, PASSPHRASE, field_name, timestamper, subfilter=subfilter)


def signed_by_reko(
    pki: TestPki, *, subfilter: str = "pades", timestamper: DummyTimeStamper | None = None
) -> bytes:
    return sign(plain_pdf(), pki.reko_p12(), subfilter=subfilter, timestamper=timestamper)


def co_signed(pki: TestPki) -> bytes:
    """REKO signs, then the physician co-signs in the second field."""
    return sign(signed_by_reko(pki), pki.physician_p12(), "lakare", subfilter="adbe")


# --- spoiling ---------------------------------------------------------------------------------


def altered(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """pdf with the last occurrence of old replaced by new (same length: offsets stay)."""
    assert len(old) == len(new)
    index = pdf.rindex(old)
    return pdf[:index] + new + pdf[index + len(old):]


def with_changed_page(pdf: bytes, text: str = "Ändrat efter underskrift") -> bytes:
    """pdf with an incremental update that replaces the first page's content stream."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(
        stream_data=b"BT /F1 14 Tf 72 700 Td (" + text.encode("latin-1") + b") Tj ET"
    )
    page[pdf_name("/Contents")] = writer.add_object(stream)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_appended_javascript(pdf: bytes) -> bytes:
    """pdf with an unsigned incremental update adding an OpenAction script."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for key, value in javascript_catalog().items():
        writer.root[pdf_name(key)] = value
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_reference(pdf: bytes, reference: str) -> bytes:
    """pdf with an incremental update that sets another inquiry reference in Info."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    info = generic.DictionaryObject(
        {pdf_name(REFERENCE_INFO_KEY): generic.TextStringObject(reference)}
    )
    writer.set_info(writer.add_object(info))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- hand-written PDFs for hostile input ----------------------------------------------------


def raw_pdf(objects: Sequence[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A classic-xref PDF of the given object bodies (numbered from 1)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (len(objects) + 1, root, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def minimal_objects(content: bytes = b"BT ET", content_dict: bytes = b"") -> list[bytes]:
    """Catalog, page tree, page and content stream: objects 1-4."""
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d %s>>\nstream\n" % (len(content), content_dict) + content
        + b"\nendstream",
    ]


def deflate_zeros(size: int) -> bytes:
    """size zero bytes, deflated, made in chunks (no big buffer)."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(compressor.flush())
    return b"".join(parts)


def bomb_pdf(kind: str = "stacked") -> bytes:
    """A PDF whose page content inflates far beyond the limits.

    "stacked": two Flate layers (tiny file, ratio far above one layer's ~1032:1);
    "single": one Flate layer of 100 MiB (above the 64 MiB per-stream cap).
    """
    if kind == "stacked":
        data = zlib.compress(zlib.compress(bytes(16 * 1024 * 1024), 9), 9)
        filters = b"/Filter [/FlateDecode /FlateDecode] "
    else:
        data = deflate_zeros(100 * 1024 * 1024)
        filters = b"/Filter /FlateDecode "
    return raw_pdf(minimal_objects(data, filters))


def deep_pdf(depth: int) -> bytes:
    """A PDF whose catalog holds an array nested depth levels deep."""
    objects = minimal_objects()
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>"
    return raw_pdf(objects)


def loop_pdf() -> bytes:
    """A PDF where two objects are references to each other."""
    objects = minimal_objects()
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Loop 5 0 R >>"
    objects += [b"6 0 R", b"5 0 R"]
    return raw_pdf(objects)


def encrypted_pdf() -> bytes:
    """A PDF whose trailer says it is encrypted (RC4, standard handler)."""
    objects = minimal_objects()
    objects.append(
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"00" * 32 + b"> /U <" + b"00" * 32
        + b"> /P -4 >>"
    )
    return raw_pdf(objects, trailer_extra=b"/Encrypt 5 0 R /ID [<01> <01>] ")


# --- poppler's pdfsig over NSS ------------------------------------------------------------


def pdfsig_tools() -> tuple[str, str, str]:
    """Paths of pdfsig, pk12util and certutil; skip the test when one is missing."""
    tools = tuple(shutil.which(name) for name in ("pdfsig", "pk12util", "certutil"))
    if not all(tools):
        pytest.skip("pdfsig, pk12util or certutil missing (Debian: poppler-utils, libnss3-tools)")
    return tools  # type: ignore[return-value]


def nss_db(folder: Path, pki: TestPki, people: Sequence[tuple[bytes, str]]) -> str:
    """An NSS database in folder with each PKCS#12 imported and the CA trusted; its sql: path."""
    _, pk12util, certutil = pdfsig_tools()
    folder.mkdir(parents=True, exist_ok=True)
    db = f"sql:{folder}"
    _run([certutil, "-N", "-d", db, "--empty-password"])
    for index, (p12, _) in enumerate(people):
        path = folder / f"person{index}.p12"
        path.write_bytes(p12)
        _run([pk12util, "-i", str(path), "-d", db, "-W", PASSPHRASE, "-K", ""])
    _run([certutil, "-A", "-d", db, "-n", "devca", "-t", "CT,C,C", "-i", str(pki.layout.ca_cert)])
    return db


def pdfsig_sign(
    pdf: bytes, db: str, nick: str, folder: Path, *, field_name: str | None = None,
    etsi: bool = False,
) -> bytes:
    """pdf signed by poppler's pdfsig as nick: in field_name, or in a new field."""
    pdfsig, _, _ = pdfsig_tools()
    source, target = folder / "in.pdf", folder / "out.pdf"
    source.write_bytes(pdf)
    target.unlink(missing_ok=True)
    command = [pdfsig, "-nssdir", db, "-nick", nick]
    command += ["-sign", field_name] if field_name else ["-add-signature"]
    if etsi:
        command.append("-etsi")
    _run([*command, str(source), str(target)])
    return target.read_bytes()


def pdfsig_verify(pdf: bytes, db: str, folder: Path) -> str:
    """pdfsig's report on pdf (an independent checker), as text."""
    pdfsig, _, _ = pdfsig_tools()
    path = folder / "check.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [pdfsig, "-nssdir", db, str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    return result.stdout + result.stderr


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stdout} {result.stderr}")


# --- validating as the gateway would ----------------------------------------------------------


def validate(
    pdf: bytes,
    pki: TestPki,
    *,
    received_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    expected_reference: str | None = REFERENCE,
    crls: Sequence[x509.CertificateRevocationList] | None = None,
    max_bytes: int | None = None,
    allowed_hsa_ids: Sequence[str] | None = None,
) -> AnswerReport:
    """validate_answer with the test PKI, received an hour ago, checked now; with
    allowed_hsa_ids also apply_signer_rule (P4, P6)."""
    now = now or dt.datetime.now(UTC)
    extra = {} if max_bytes is None else {"max_bytes": max_bytes}
    report = validate_answer(
        pdf,
        trust_roots=pki.store(crls=crls),
        received_at=received_at or now - dt.timedelta(hours=1),
        now=now,
        expected_reference=expected_reference,
        **extra,
    )
    if allowed_hsa_ids is not None:
        report = apply_signer_rule(report, allowed_hsa_ids=allowed_hsa_ids)
    return report


def foreign_timestamper() -> DummyTimeStamper:
    """A TSA whose certificate comes from a CA the gateway does not trust."""
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.keys import load_private_key_from_pemder_data

    issued = issue_tsa_certificate(create_ca(common_name="Främmande TSA-CA"))
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(issued.cert.public_bytes(Encoding.DER)),
        tsa_key=load_private_key_from_pemder_data(issued.key_pem(), passphrase=None),
    )
