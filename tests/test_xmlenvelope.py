"""XML security of SDK envelopes: sealed with the development PKI, checked independently with
xmlsec1, xmllint and DIGG's schematron, and refused when tampered, wrapped, signed by another
key, encrypted to another recipient, or offered for decryption without verification."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import lxml.etree
import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from forms.sdk.receipt import Receipt, build_receipt_envelope, parse_receipt
from forms.sdk.xhe import build_xhe, message_header, parse_xhe, validate_xhe
from signing.certificates import (
    IssuedCertificate,
    create_ca,
    issue_function_certificate,
    issue_person_certificate,
    load_key_pair,
)
from signing.devpki import PkiLayout
from signing.xmlenvelope import (
    ERRORS,
    EnvelopeSecurityError,
    VerifiedEnvelope,
    decrypt_payload,
    encrypt_payload,
    open_envelope,
    parse_envelope,
    seal_envelope,
    sign_envelope,
    verify_envelope,
)
from tests.support.digg import (
    MESSAGE_EXAMPLE,
    MESSAGE_XSD,
    XMLSEC1,
    digg_xhe,
    needs_xmllint,
    needs_xmlsec1,
    sdk_path,
    xsd_errors,
)

MALMO, SKANE = "0203:malmo.se", "0203:skane.se"
ADDRESS = "sdk:vc-kryddgarden:0203:skane.se"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
NS = {"ds": DS, "xenc": XENC, "xha": "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents"}


@dataclass(frozen=True)
class Parties:
    """Malmö signs, Skåne decrypts; a stranger's CA issued a look-alike Malmö certificate."""

    layout: PkiLayout
    malmo: IssuedCertificate
    malmo_encryption: IssuedCertificate
    skane: IssuedCertificate
    skane_encryption: IssuedCertificate
    impostor: IssuedCertificate


@pytest.fixture(scope="module")
def parties(pki_template: Path) -> Parties:
    layout = PkiLayout(pki_template)

    def pair(org: str, encryption: bool = False) -> IssuedCertificate:
        if encryption:
            return load_key_pair(layout.org_enc_cert(org), layout.org_enc_key(org))
        return load_key_pair(layout.org_cert(org), layout.org_key(org))

    impostor = issue_function_certificate(create_ca(), org_id=MALMO, organisation="Malmö stad")
    return Parties(layout, pair(MALMO), pair(MALMO, True), pair(SKANE), pair(SKANE, True),
                   impostor)


def _message() -> etree._Element:
    return etree.parse(str(sdk_path(MESSAGE_EXAMPLE))).getroot()


def _xhe() -> etree._Element:
    header = message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS)
    return build_xhe(header, _message())


@pytest.fixture(scope="module")
def sealed(parties: Parties) -> bytes:
    return seal_envelope(_xhe(), parties.malmo, recipient=parties.skane_encryption.cert)


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def _refused(code: str, data: bytes, sender: x509.Certificate) -> EnvelopeSecurityError:
    with pytest.raises(EnvelopeSecurityError) as caught:
        verify_envelope(data, sender)
    assert caught.value.code == code, caught.value
    assert code in ERRORS
    return caught.value


def _xmlsec1(*args: object) -> subprocess.CompletedProcess[bytes]:
    assert XMLSEC1
    return subprocess.run([XMLSEC1, *map(str, args)], capture_output=True, check=False)


# --- the round trip -------------------------------------------------------------------------


def test_a_sealed_message_opens_to_the_payload_that_went_in(
    parties: Parties, sealed: bytes
) -> None:
    opened = open_envelope(sealed, parties.malmo.cert, parties.skane_encryption)

    assert _c14n(etree.fromstring(opened.payload)) == _c14n(_message())
    assert opened.envelope.signer == parties.malmo.cert
    envelope = parse_xhe(opened.envelope.root)
    assert envelope.header.encrypted and envelope.payload.tag == f"{{{XENC}}}EncryptedData"
    assert b"En rubrik" not in sealed  # the access points never see the plaintext


def test_the_encryption_and_signature_use_the_profiles_algorithms(
    parties: Parties, sealed: bytes
) -> None:
    root = etree.fromstring(sealed)
    algorithms = {element.get("Algorithm") for element in root.iter() if element.get("Algorithm")}
    assert algorithms == {
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    }
    encrypted = root.find(".//xenc:EncryptedData", NS)
    assert encrypted is not None
    assert encrypted.get("Type") == "http://www.w3.org/2001/04/xmlenc#Element"
    assert encrypted.getparent() is root.find(".//xha:PayloadContent", NS)
    recipient = encrypted.findtext(".//xenc:EncryptedKey/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                                  namespaces=NS)
    signer = root.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                           namespaces=NS)
    assert recipient and _certificate(recipient) == parties.skane_encryption.cert
    assert signer and _certificate(signer) == parties.malmo.cert
    reference = root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    assert reference is not None and reference.get("URI") == ""


@needs_xmllint
def test_digg_accepts_the_sealed_message_envelope(sealed: bytes) -> None:
    assert validate_xhe(etree.fromstring(sealed)).valid
    assert digg_xhe(sealed).valid


@needs_xmlsec1
def test_xmlsec1_verifies_envelopes_and_receipts_with_the_senders_certificate(
    parties: Parties, sealed: bytes, tmp_path: Path
) -> None:
    receipt = seal_envelope(
        build_receipt_envelope(Receipt.accept(sender=SKANE, receiver=MALMO, reference="x")),
        parties.skane, recipient=None,
    )
    for name, data, signer in (("message", sealed, parties.layout.org_cert(MALMO)),
                               ("receipt", receipt, parties.layout.org_cert(SKANE))):
        (tmp_path / name).write_bytes(data)
        done = _xmlsec1("--verify", "--pubkey-cert-pem", signer, tmp_path / name)
        assert done.returncode == 0, done.stderr
        assert b"OK" in done.stdout + done.stderr
        tampered = data.replace(MALMO.encode(), b"0203:malmo.sf", 1)
        (tmp_path / f"{name}-tampered").write_bytes(tampered)
        done = _xmlsec1("--verify", "--pubkey-cert-pem", signer, tmp_path / f"{name}-tampered")
        assert done.returncode != 0


@needs_xmlsec1
@needs_xmllint
def test_xmlsec1_decrypts_a_payload_that_digg_s_message_xsd_accepts(
    parties: Parties, sealed: bytes, tmp_path: Path
) -> None:
    (tmp_path / "env.xml").write_bytes(sealed)
    done = _xmlsec1("--decrypt", "--privkey-pem", parties.layout.org_enc_key(SKANE),
                    tmp_path / "env.xml")
    assert done.returncode == 0, done.stderr
    payload = etree.fromstring(done.stdout).find(".//xha:PayloadContent/*", NS)
    assert payload is not None
    assert xsd_errors(MESSAGE_XSD, etree.tostring(payload)) == ()
    assert _c14n(payload) == _c14n(_message())


@needs_xmllint
def test_a_receipt_travels_signed_and_not_encrypted(parties: Parties) -> None:
    receipt = Receipt.accept(sender=SKANE, receiver=MALMO, reference="7bc5576a")
    data = seal_envelope(build_receipt_envelope(receipt), parties.skane, recipient=None)

    verified = verify_envelope(data, parties.skane.cert)

    assert digg_xhe(data).valid
    assert not any(True for _ in verified.root.iter(f"{{{XENC}}}EncryptedData"))
    assert parse_receipt(parse_xhe(verified.root).payload) == receipt


# --- what verification refuses --------------------------------------------------------------


def _signed_region(data: bytes) -> tuple[int, int]:
    """The bytes from after the XML declaration up to the signature: all of them signed."""
    return data.index(b"?>") + 2, data.index(b"<ds:Signature")


def test_a_change_to_any_signed_byte_is_refused(parties: Parties, sealed: bytes) -> None:
    start, end = _signed_region(sealed)
    positions = [i for i in range(start, end) if chr(sealed[i]).isalnum()][::53]
    assert len(positions) > 100
    for position in positions:
        swapped = b"0" if sealed[position:position + 1] != b"0" else b"1"
        tampered = sealed[:position] + swapped + sealed[position + 1:]
        with pytest.raises(EnvelopeSecurityError) as caught:
            verify_envelope(tampered, parties.malmo.cert)
        # A changed tag name no longer parses; everything else fails the digest.
        assert caught.value.code in {"SIGNATURE_INVALID", "MALFORMED", "NOT_XHE"}, position


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<xhb:ContentTypeCode>application/xml", b"<xhb:ContentTypeCode>application/XML"),
        (b'schemeID="iso6523-actorid-upis">0203:skane.se',
         b'schemeID="iso6523-actorid-upis">0203:evil.se'),
        (b"<ds:DigestValue>", b"<ds:DigestValue>A"),
        (b"<ds:SignatureValue>", b"<ds:SignatureValue>A"),
        (b"</xhb:XHEVersionID>", b"</xhb:XHEVersionID>\n  "),  # whitespace is signed too
    ],
)
def test_tampering_is_refused(parties: Parties, sealed: bytes, old: bytes, new: bytes) -> None:
    assert old in sealed
    error = _refused("SIGNATURE_INVALID", sealed.replace(old, new, 1), parties.malmo.cert)
    assert "changed" in error.detail


def test_processing_instructions_are_signed_content(parties: Parties) -> None:
    root = _xhe()
    root.insert(0, etree.ProcessingInstruction("routing", "hint"))
    sealed = seal_envelope(root, parties.malmo, recipient=parties.skane_encryption.cert)

    verify_envelope(sealed, parties.malmo.cert)
    _refused("SIGNATURE_INVALID", sealed.replace(b"<?routing hint?>", b"<?routing evil?>"),
             parties.malmo.cert)


def test_a_signature_by_another_key_is_refused_even_with_a_valid_certificate_inside(
    parties: Parties,
) -> None:
    forged = seal_envelope(_xhe(), parties.impostor, recipient=parties.skane_encryption.cert)
    verify_envelope(forged, parties.impostor.cert)  # it is a good signature by its own key ...

    error = _refused("SIGNATURE_INVALID", forged, parties.malmo.cert)  # ... not Malmö's
    assert parties.malmo.fingerprint in error.detail and "not the one held" in error.detail
    # Putting Malmö's own certificate into the KeyInfo changes nothing: it is not trusted.
    swapped = _replace_certificate(forged, parties.impostor.cert, parties.malmo.cert)
    _refused("SIGNATURE_INVALID", swapped, parties.malmo.cert)


def test_a_missing_or_second_signature_is_refused(parties: Parties, sealed: bytes) -> None:
    root = etree.fromstring(sealed)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    root.remove(signature)
    _refused("SIGNATURE_MISSING", etree.tostring(root), parties.malmo.cert)

    root.append(signature)
    root.append(copy.deepcopy(signature))
    _refused("SIGNATURE_MULTIPLE", etree.tostring(root), parties.malmo.cert)


def _rewrite(data: bytes, change: str) -> bytes:
    """Apply one wrapping-style change to a sealed envelope's tree."""
    root = etree.fromstring(data)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    signed_info = signature.find("ds:SignedInfo", NS)
    assert signed_info is not None
    reference = signed_info.find("ds:Reference", NS)
    assert reference is not None
    if change == "uri":
        reference.set("URI", "#payload")
    elif change == "no-uri":
        del reference.attrib["URI"]
    elif change == "second-reference":
        signed_info.append(copy.deepcopy(reference))
    elif change == "xpath-transform":
        transforms = reference.find("ds:Transforms", NS)
        assert transforms is not None
        xpath = etree.SubElement(transforms, f"{{{DS}}}Transform",
                                 Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
        etree.SubElement(xpath, f"{{{DS}}}XPath").text = "not(ancestor-or-self::*)"
    elif change == "no-enveloped":
        transform = reference.find("ds:Transforms/ds:Transform", NS)
        assert transform is not None
        transform.set("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    elif change == "object":
        # The classic wrapping: the signed original hidden in an Object, a new body outside.
        etree.SubElement(signature, f"{{{DS}}}Object").append(copy.deepcopy(root))
    elif change == "in-payload":
        content = root.find(".//xha:PayloadContent", NS)
        assert content is not None
        content.append(signature)
    elif change == "wrapped-root":
        wrapper = etree.Element("{urn:evil}Wrapper")
        wrapper.append(root)
        return etree.tostring(wrapper)
    else:
        algorithms = {
            "rsa-sha1": ("ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
            "sha1": ("ds:Reference/ds:DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
            "c14n-comments": ("ds:CanonicalizationMethod",
                              "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"),
        }
        path, algorithm = algorithms[change]
        method = signed_info.find(path, NS)
        assert method is not None
        method.set("Algorithm", algorithm)
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("uri", "SIGNATURE_REFERENCE"),
        ("no-uri", "SIGNATURE_REFERENCE"),
        ("second-reference", "SIGNATURE_REFERENCE"),
        ("xpath-transform", "SIGNATURE_REFERENCE"),
        ("no-enveloped", "SIGNATURE_REFERENCE"),
        ("object", "SIGNATURE_MULTIPLE"),
        ("in-payload", "SIGNATURE_PLACEMENT"),
        ("wrapped-root", "NOT_XHE"),
        ("rsa-sha1", "SIGNATURE_ALGORITHM"),
        ("sha1", "SIGNATURE_ALGORITHM"),
        ("c14n-comments", "SIGNATURE_ALGORITHM"),
    ],
)
def test_signature_wrapping_and_weaker_algorithms_are_refused(
    parties: Parties, sealed: bytes, change: str, code: str
) -> None:
    _refused(code, _rewrite(sealed, change), parties.malmo.cert)


def test_an_object_beside_the_only_signature_is_refused(parties: Parties, sealed: bytes) -> None:
    root = etree.fromstring(sealed)
    signature = root.find("ds:Signature", NS)
    assert signature is not None
    etree.SubElement(signature, f"{{{DS}}}Object").text = "unsigned"
    _refused("SIGNATURE_REFERENCE", etree.tostring(root), parties.malmo.cert)


def test_the_senders_certificate_must_be_valid_and_able_to_sign(
    parties: Parties, sealed: bytes
) -> None:
    later = parties.malmo.cert.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(EnvelopeSecurityError) as caught:
        verify_envelope(sealed, parties.malmo.cert, at=later)
    assert caught.value.code == "CERTIFICATE_EXPIRED"
    # An encryption certificate (keyEncipherment only) does not verify signatures.
    _refused("CERTIFICATE_UNSUITABLE", sealed, parties.malmo_encryption.cert)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "MALFORMED"),
        (b"<x:XHE xmlns:x='urn:x'>", "MALFORMED"),
        (b"<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaa'>]><l>&a;&a;</l>", "MALFORMED"),
        (b"<halsoforfragan/>", "NOT_XHE"),
        (b"<x/>" + b" " * 100, "MALFORMED"),
        (b"<a>" * 40 + b"</a>" * 40, "MALFORMED"),
    ],
)
def test_what_is_not_a_safe_xhe_is_refused_before_anything_else(data: bytes, code: str) -> None:
    with pytest.raises(EnvelopeSecurityError) as caught:
        parse_envelope(data, max_bytes=100)
    assert caught.value.code == code


# --- decryption: only for the recipient, only after verification ---------------------------


def test_a_wrong_recipient_certificate_gets_a_clear_code(parties: Parties, sealed: bytes) -> None:
    verified = verify_envelope(sealed, parties.malmo.cert)
    with pytest.raises(EnvelopeSecurityError) as caught:
        decrypt_payload(verified, parties.malmo_encryption)
    assert caught.value.code == "NOT_FOR_RECIPIENT"
    assert "Region Skåne krypteringscertifikat" in caught.value.detail


def test_a_key_that_cannot_open_the_session_key_is_refused(parties: Parties) -> None:
    encrypted = _xhe()
    encrypt_payload(encrypted, parties.skane_encryption.cert)
    # (Re-parsed: lxml's find does not match names that libxmlsec created.)
    root = etree.fromstring(etree.tostring(encrypted))
    # Without the addressee's certificate in the KeyInfo only the key itself can tell.
    key_info = root.find(".//xenc:EncryptedKey/ds:KeyInfo", NS)
    assert key_info is not None
    key_info.clear()
    sign_envelope(root, parties.malmo)
    verified = verify_envelope(etree.tostring(root), parties.malmo.cert)

    with pytest.raises(EnvelopeSecurityError) as caught:
        decrypt_payload(verified, parties.malmo_encryption)
    assert caught.value.code == "DECRYPTION_FAILED"
    assert etree.fromstring(decrypt_payload(verified, parties.skane_encryption)).tag == (
        _message().tag
    )


def test_nothing_unverified_can_be_decrypted(parties: Parties, sealed: bytes) -> None:
    with pytest.raises(TypeError):
        decrypt_payload(etree.fromstring(sealed), parties.skane_encryption)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        VerifiedEnvelope(etree.fromstring(sealed), parties.malmo.cert)
    # Tampered cipher text to the wrong recipient: the signature check answers, not decryption.
    start = sealed.index(b"<xenc:CipherValue>") + len(b"<xenc:CipherValue>")
    tampered = sealed[:start] + b"AAAA" + sealed[start + 4:]
    with pytest.raises(EnvelopeSecurityError) as caught:
        open_envelope(tampered, parties.malmo.cert, parties.malmo_encryption)
    assert caught.value.code == "SIGNATURE_INVALID"


def test_decryption_leaves_the_verified_envelope_as_it_was(parties: Parties, sealed: bytes) -> None:
    verified = verify_envelope(sealed, parties.malmo.cert)
    before = etree.tostring(verified.root)
    decrypt_payload(verified, parties.skane_encryption)
    assert etree.tostring(verified.root) == before
    assert validate_xhe(verified.root).valid


# --- what sealing refuses -------------------------------------------------------------------


def test_sealing_refuses_what_would_break_the_profile(parties: Parties, sealed: bytes) -> None:
    receipt = build_receipt_envelope(Receipt.accept(sender=SKANE, receiver=MALMO, reference="x"))
    cases = [
        (lambda: seal_envelope(receipt, parties.skane, recipient=parties.malmo.cert), "PAYLOAD"),
        (lambda: seal_envelope(_xhe(), parties.malmo, recipient=None), "PAYLOAD"),
        (lambda: seal_envelope(etree.fromstring(sealed), parties.malmo,
                               recipient=parties.skane.cert), "PAYLOAD"),
        (lambda: seal_envelope(etree.fromstring(b"<XHE/>"), parties.malmo, recipient=None),
         "NOT_XHE"),
        (lambda: sign_envelope(etree.fromstring(sealed), parties.malmo), "ALREADY_SIGNED"),
        # A person's signing certificate (no keyEncipherment) cannot receive a session key.
        (lambda: seal_envelope(_xhe(), parties.malmo, recipient=issue_person_certificate(
            create_ca(), hsa_id="SE2321000255-P001", name="Anna", organisation="Region Skåne"
        ).cert), "CERTIFICATE_UNSUITABLE"),
        (lambda: seal_envelope(_xhe(), parties.malmo_encryption,
                               recipient=parties.skane.cert), "CERTIFICATE_UNSUITABLE"),
    ]
    for seal, code in cases:
        with pytest.raises(EnvelopeSecurityError) as caught:
            seal()
        assert caught.value.code == code, caught.value


def test_the_callers_tree_is_not_changed_by_sealing(parties: Parties) -> None:
    root = _xhe()
    before = etree.tostring(root)
    seal_envelope(root, parties.malmo, recipient=parties.skane.cert)  # the fallback: one cert
    assert etree.tostring(root) == before


@pytest.mark.slow
def test_a_payload_of_sdk_size_goes_through(parties: Parties) -> None:
    """A 12 MB text node: above libxml2's default limit, within SDK's 30 MB."""
    message = _message()
    label = message.find(".//{*}label")
    assert label is not None
    label.text = "x" * 12_000_000
    header = message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS)
    data = seal_envelope(build_xhe(header, message), parties.malmo,
                         recipient=parties.skane_encryption.cert)

    opened = open_envelope(data, parties.malmo.cert, parties.skane_encryption)

    assert len(opened.payload) > 12_000_000
    assert etree.fromstring(opened.payload, etree.XMLParser(huge_tree=True)).find(
        ".//{*}label"
    ) is not None


def test_xmlsec_and_lxml_share_one_libxml2() -> None:
    """PITFALLS: wheels built against different libxml2 versions break at import or worse."""
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION
    assert xmlsec.get_libxml_compiled_version() == lxml.etree.LIBXML_COMPILED_VERSION


def _certificate(text: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(re.sub(r"\s", "", text)))


def _replace_certificate(data: bytes, old: x509.Certificate, new: x509.Certificate) -> bytes:
    root = etree.fromstring(data)
    element = root.find("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    assert element is not None and _certificate(element.text or "") == old
    element.text = base64.b64encode(new.public_bytes(serialization.Encoding.DER)).decode()
    return etree.tostring(root)
