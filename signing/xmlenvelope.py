"""XML security of SDK envelopes: XML Encryption 1.0 of the XHE payload and an enveloped XMLDSig
over the whole XHE (Kuverteringsprofil XHE 3, Transportmodell Utökad Bas), made and checked
with xmlsec.

Sealing encrypts the payload to the recipient's certificate and then signs the envelope.
Opening verifies the signature against the certificate the receiver holds for the sender
(never against the one inside the document) and only then decrypts: `decrypt_payload`
takes nothing but the `VerifiedEnvelope` that `verify_envelope` returns. Every refusal is
an EnvelopeSecurityError with a code from ERRORS.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from signing.certificates import IssuedCertificate, fingerprint, subject_text
from signing.errors import CheckFailed

# The envelope's namespaces (forms.sdk.xhe owns the XHE; signing may not import forms).
NS_X = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope"
NS_XHA = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents"
NS_XHB = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"

# Algorithms the profile fixes (C3.2.2 3.4.4 and 3.5.2).
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"  # rsa-oaep-mgf1p's only digest
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
TYPE_ELEMENT = "http://www.w3.org/2001/04/xmlenc#Element"
# The canonicalizations XMLDSig requires every verifier to support (without comments);
# we sign with inclusive Canonical XML 1.0, as DIGG's examples do.
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CANONICALIZATIONS = frozenset({C14N, C14N11, EXC_C14N})

# SDK's largest message is 30 MB; encrypted and base64-encoded it needs 40 MB and more.
MAX_ENVELOPE_BYTES = 48 * 1024 * 1024
# What an envelope adds beyond its encrypted payload's base64: the XHE header, the wrapped
# session key, the signature and both certificates (~7.5 KB with the development PKI; longer
# identifiers and real certificate chains stay well within this).
ENVELOPE_OVERHEAD_BYTES = 64 * 1024
# libxmlsec writes base64 in lines of 64 characters.
_BASE64_LINE = 64


def sealed_size_limit(payload_bytes: int) -> int:
    """Return the largest envelope seal_envelope makes around a payload of at most
    `payload_bytes`: aes256-cbc adds an IV and up to a block of padding, base64 a third and a
    line break per line, and the XHE, key and signature ENVELOPE_OVERHEAD_BYTES."""
    cipher = payload_bytes + 2 * 16
    base64_chars = -(-cipher // 3) * 4
    return base64_chars + -(-base64_chars // _BASE64_LINE) + ENVELOPE_OVERHEAD_BYTES
MAX_DEPTH = 32
MAX_ELEMENTS = 20_000

ERRORS: dict[str, str] = {
    "MALFORMED": "not safe, well-formed XML within the size and depth limits",
    "NOT_XHE": "the root element is not an XHE",
    "SIGNATURE_MISSING": "the envelope carries no ds:Signature",
    "SIGNATURE_MULTIPLE": "the envelope carries more than one ds:Signature",
    "SIGNATURE_PLACEMENT": "the ds:Signature is not a child of the XHE element",
    "SIGNATURE_REFERENCE": "not one Reference URI=\"\" with the enveloped-signature transform",
    "SIGNATURE_ALGORITHM": "a canonicalization, signature or digest algorithm not allowed",
    "SIGNATURE_INVALID": "the signature does not verify with the sender's certificate",
    "CERTIFICATE_UNSUITABLE": "a certificate or key that cannot serve (not RSA, key usage)",
    "CERTIFICATE_EXPIRED": "a certificate outside its validity period",
    "ALREADY_SIGNED": "the envelope to seal is signed already",
    "PAYLOAD": "not one payload element in one PayloadContent, or the indicator disagrees",
    "NOT_ENCRYPTED": "the payload is not xenc:EncryptedData",
    "ENCRYPTION_ALGORITHM": "an encryption algorithm or type the profile does not allow",
    "ENCRYPTION_REFERENCE": "the encrypted data points elsewhere (CipherReference, "
    "RetrievalMethod) or lacks one EncryptedKey",
    "NOT_FOR_RECIPIENT": "the session key is encrypted to another certificate",
    "DECRYPTION_FAILED": "the payload cannot be decrypted with the recipient's key",
}


class EnvelopeSecurityError(CheckFailed):
    """An envelope that cannot be sealed or opened; `code` (a key of ERRORS) says which check."""

    code = "ENVELOPE"


_VERIFIED = object()


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose signature verified with `signer`: its parsed tree, ready to read.

    Only verify_envelope makes one; decrypt_payload takes nothing else.
    """

    root: etree._Element
    signer: x509.Certificate
    token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not _VERIFIED:
            raise TypeError("a VerifiedEnvelope comes from verify_envelope only")


@dataclass(frozen=True)
class OpenedEnvelope:
    """A verified envelope and its decrypted payload (XML bytes, not yet parsed)."""

    envelope: VerifiedEnvelope
    payload: bytes = field(repr=False)


def parse_envelope(data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> etree._Element:
    """Return the root of data; raise EnvelopeSecurityError (MALFORMED, NOT_XHE) if it is not
    an XHE in safe, well-formed XML: no DOCTYPE, no entities, no network, bounded size."""
    if len(data) > max_bytes:
        raise EnvelopeSecurityError("MALFORMED", f"{len(data)} bytes; at most {max_bytes}")
    if b"<!DOCTYPE" in data[:4096].upper():
        raise EnvelopeSecurityError("MALFORMED", "a DOCTYPE is not accepted")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        # Comments are outside the signature (c14n without comments); processing
        # instructions are inside it, so they stay.
        remove_comments=True,
        remove_pis=False,
        collect_ids=False,
        # A payload of SDK's largest size is one text node above libxml2's 10 MB default;
        # the size is bounded above and the depth and element count below.
        huge_tree=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise EnvelopeSecurityError("MALFORMED", f"line {exc.lineno}: {exc.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise EnvelopeSecurityError("MALFORMED", "a DOCTYPE is not accepted")
    _check_shape(root)
    if root.tag != f"{{{NS_X}}}XHE":
        raise EnvelopeSecurityError("NOT_XHE", f"the root element is {root.tag}")
    return root


def _check_shape(root: etree._Element) -> None:
    depth = count = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        count += 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            raise EnvelopeSecurityError(
                "MALFORMED", f"deeper than {MAX_DEPTH} or more than {MAX_ELEMENTS} elements"
            )


# --- sealing --------------------------------------------------------------------------------


def seal_envelope(
    xhe: etree._Element, signer: IssuedCertificate, *, recipient: x509.Certificate | None
) -> bytes:
    """Return the XHE, its payload encrypted to recipient (None: left as it is, for a
    receipt), signed by signer, as UTF-8 bytes. The caller's tree is not changed."""
    root = copy.deepcopy(xhe)
    if root.tag != f"{{{NS_X}}}XHE":
        raise EnvelopeSecurityError("NOT_XHE", f"the root element is {root.tag}")
    if recipient is not None:
        encrypt_payload(root, recipient)
    elif _indicator(root) is not False:
        raise EnvelopeSecurityError("PAYLOAD", "InstanceEncryptionIndicator is not false")
    sign_envelope(root, signer)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def encrypt_payload(root: etree._Element, recipient: x509.Certificate) -> None:
    """Replace the XHE's payload element by xenc:EncryptedData (aes256-cbc, the session key
    wrapped with rsa-oaep-mgf1p to recipient, whose certificate goes into the KeyInfo).

    Serialize the tree before searching it again: lxml's find and iter by name do not match
    the elements libxmlsec adds (their names are not in the document's dictionary).
    """
    _check_certificate(recipient, "key_encipherment", "recipient")
    if _indicator(root) is not True:
        raise EnvelopeSecurityError("PAYLOAD", "InstanceEncryptionIndicator is not true")
    payload = _payload_element(root)
    if payload.tag == f"{{{NS_XENC}}}EncryptedData":
        raise EnvelopeSecurityError("PAYLOAD", "the payload is encrypted already")
    template = xmlsec.template.encrypted_data_create(
        root, xmlsec.constants.TransformAes256Cbc, type=xmlsec.constants.TypeEncElement,
        ns="xenc",
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    certificate_info = xmlsec.template.encrypted_data_ensure_key_info(encrypted_key)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(certificate_info))
    manager = _keys_manager(_pem(recipient), xmlsec.constants.KeyDataFormatCertPem)
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    try:
        context.encrypt_xml(template, payload)
    except xmlsec.Error as exc:
        raise EnvelopeSecurityError("PAYLOAD", f"xmlsec could not encrypt: {exc}") from None


def sign_envelope(root: etree._Element, signer: IssuedCertificate) -> None:
    """Append an enveloped ds:Signature over the whole XHE (Reference URI="", rsa-sha256,
    sha256, inclusive c14n) carrying the signer's certificate."""
    _check_certificate(signer.cert, "digital_signature", "signer")
    if not isinstance(signer.key, rsa.RSAPrivateKey):
        raise EnvelopeSecurityError("CERTIFICATE_UNSUITABLE", "the signer's key is not RSA")
    if any(True for _ in root.iter(f"{{{NS_DS}}}Signature")):
        raise EnvelopeSecurityError("ALREADY_SIGNED", "the envelope carries a signature")
    signature = xmlsec.template.create(
        root, xmlsec.constants.TransformInclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    root.append(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=""
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    context = xmlsec.SignatureContext()
    context.key = _xmlsec_key(signer.cert, signer.key_pem)
    context.sign(signature)


# --- opening --------------------------------------------------------------------------------


def verify_envelope(
    data: bytes,
    sender: x509.Certificate,
    *,
    at: dt.datetime | None = None,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> VerifiedEnvelope:
    """Return the envelope when its one enveloped signature over the whole document verifies
    with sender's key (the certificate held for FromParty); raise EnvelopeSecurityError.

    Refused: a missing or second signature, one not directly under the XHE, anything but one
    Reference URI="" with the enveloped-signature transform (and at most a canonicalization
    after it), other algorithms, a sender certificate not valid `at` (default: now), and any
    change to a signed byte.
    """
    root = parse_envelope(data, max_bytes=max_bytes)
    signature = _the_signature(root)
    _check_signature_shape(signature)
    _check_certificate(sender, "digital_signature", "sender", at=at)
    context = xmlsec.SignatureContext()
    context.key = _xmlsec_key(sender)
    for transform in (xmlsec.constants.TransformEnveloped, xmlsec.constants.TransformInclC14N,
                      xmlsec.constants.TransformInclC14N11, xmlsec.constants.TransformExclC14N,
                      xmlsec.constants.TransformSha256):
        context.enable_reference_transform(transform)
    for transform in (xmlsec.constants.TransformInclC14N, xmlsec.constants.TransformInclC14N11,
                      xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256):
        context.enable_signature_transform(transform)
    try:
        context.verify(signature)
    except xmlsec.Error:
        raise EnvelopeSecurityError("SIGNATURE_INVALID", _why_invalid(signature, sender)) from None
    return VerifiedEnvelope(root, sender, _VERIFIED)


def decrypt_payload(envelope: VerifiedEnvelope, recipient: IssuedCertificate) -> bytes:
    """Return the plaintext payload (XML bytes, to be parsed as any input) of a verified
    envelope, decrypted with the recipient's key; raise EnvelopeSecurityError."""
    if not isinstance(envelope, VerifiedEnvelope):
        raise TypeError("decrypt_payload takes the VerifiedEnvelope from verify_envelope")
    encrypted = _payload_element(envelope.root)
    if encrypted.tag != f"{{{NS_XENC}}}EncryptedData":
        raise EnvelopeSecurityError("NOT_ENCRYPTED", f"the payload is {encrypted.tag}")
    _check_encrypted_shape(encrypted)
    _check_addressee(encrypted, recipient.cert)
    # Without its Type the plaintext comes back as bytes and the envelope stays as it was.
    detached = copy.deepcopy(encrypted)
    del detached.attrib["Type"]
    manager = _keys_manager(recipient.key_pem(), xmlsec.constants.KeyDataFormatPem)
    try:
        plaintext = xmlsec.EncryptionContext(manager).decrypt(detached)
    except xmlsec.Error:
        raise EnvelopeSecurityError(
            "DECRYPTION_FAILED", "the session key or the payload does not decrypt"
        ) from None
    if not isinstance(plaintext, bytes):
        raise EnvelopeSecurityError("DECRYPTION_FAILED", "the decryption gave no bytes")
    return plaintext


def open_envelope(
    data: bytes,
    sender: x509.Certificate,
    recipient: IssuedCertificate,
    *,
    at: dt.datetime | None = None,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> OpenedEnvelope:
    """Verify data against sender's certificate, then decrypt its payload with recipient's key."""
    envelope = verify_envelope(data, sender, at=at, max_bytes=max_bytes)
    return OpenedEnvelope(envelope, decrypt_payload(envelope, recipient))


# --- checks ---------------------------------------------------------------------------------


def _ds(name: str) -> str:
    return f"{{{NS_DS}}}{name}"


def _xenc(name: str) -> str:
    return f"{{{NS_XENC}}}{name}"


def _the_signature(root: etree._Element) -> etree._Element:
    signatures = list(root.iter(_ds("Signature")))
    if not signatures:
        raise EnvelopeSecurityError("SIGNATURE_MISSING", "no ds:Signature in the envelope")
    if len(signatures) > 1:
        raise EnvelopeSecurityError(
            "SIGNATURE_MULTIPLE", f"{len(signatures)} ds:Signature elements; one is allowed"
        )
    signature = signatures[0]
    if signature.getparent() is not root:
        raise EnvelopeSecurityError(
            "SIGNATURE_PLACEMENT", "the ds:Signature must be a child of the XHE element"
        )
    return signature


def _algorithm(parent: etree._Element, name: str) -> str | None:
    found = parent.find(_ds(name))
    return found.get("Algorithm") if found is not None else None


def _check_signature_shape(signature: etree._Element) -> None:
    allowed = {_ds("SignedInfo"), _ds("SignatureValue"), _ds("KeyInfo")}
    extra = [child.tag for child in signature if child.tag not in allowed]
    if extra:
        raise EnvelopeSecurityError("SIGNATURE_REFERENCE", f"unexpected {extra[0]} in Signature")
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None:
        raise EnvelopeSecurityError("SIGNATURE_REFERENCE", "no SignedInfo")
    if _algorithm(signed_info, "CanonicalizationMethod") not in CANONICALIZATIONS:
        raise EnvelopeSecurityError(
            "SIGNATURE_ALGORITHM",
            f"canonicalization {_algorithm(signed_info, 'CanonicalizationMethod')}",
        )
    if _algorithm(signed_info, "SignatureMethod") != RSA_SHA256:
        raise EnvelopeSecurityError(
            "SIGNATURE_ALGORITHM", f"signature method {_algorithm(signed_info, 'SignatureMethod')}"
        )
    references = signed_info.findall(_ds("Reference"))
    if len(references) != 1 or references[0].get("URI") != "":
        uris = [reference.get("URI") for reference in references]
        raise EnvelopeSecurityError(
            "SIGNATURE_REFERENCE", f"references {uris}; exactly one with URI=\"\" is allowed"
        )
    reference = references[0]
    transforms = [t.get("Algorithm") for t in reference.iterfind(f"{_ds('Transforms')}/*")]
    if not transforms or transforms[0] != ENVELOPED or len(transforms) > 2 or (
        len(transforms) == 2 and transforms[1] not in CANONICALIZATIONS
    ):
        raise EnvelopeSecurityError("SIGNATURE_REFERENCE", f"transforms {transforms}")
    if _algorithm(reference, "DigestMethod") != SHA256:
        raise EnvelopeSecurityError(
            "SIGNATURE_ALGORITHM", f"digest method {_algorithm(reference, 'DigestMethod')}"
        )


def _why_invalid(signature: etree._Element, sender: x509.Certificate) -> str:
    """Say whether the signature was made with another certificate than the one held."""
    embedded = _embedded_certificate(signature.find(_ds("KeyInfo")))
    if embedded is not None and embedded != sender:
        return (
            f"signed with the certificate {subject_text(embedded.subject)} "
            f"(SHA-256 {fingerprint(embedded)}), not the one held for the sender "
            f"(SHA-256 {fingerprint(sender)})"
        )
    return "a signed part of the envelope has changed, or the signature value is wrong"


def _embedded_certificate(key_info: etree._Element | None) -> x509.Certificate | None:
    if key_info is None:
        return None
    found = key_info.find(f"{_ds('X509Data')}/{_ds('X509Certificate')}")
    if found is None or not found.text:
        return None
    try:
        return x509.load_der_x509_certificate(base64.b64decode(found.text))
    except (ValueError, binascii.Error):
        return None


def _check_encrypted_shape(encrypted: etree._Element) -> None:
    if encrypted.get("Type") != TYPE_ELEMENT:
        raise EnvelopeSecurityError(
            "ENCRYPTION_ALGORITHM", f"EncryptedData Type {encrypted.get('Type')}; an XML payload "
            "is encrypted as an Element"
        )
    method = encrypted.find(_xenc("EncryptionMethod"))
    if method is None or method.get("Algorithm") != AES256_CBC:
        algorithm = method.get("Algorithm") if method is not None else None
        raise EnvelopeSecurityError("ENCRYPTION_ALGORITHM", f"payload encryption {algorithm}")
    for name in (_xenc("CipherReference"), _ds("RetrievalMethod"), _xenc("AgreementMethod")):
        if any(True for _ in encrypted.iter(name)):
            raise EnvelopeSecurityError("ENCRYPTION_REFERENCE", f"{name} is not accepted")
    keys = list(encrypted.iterfind(f"{_ds('KeyInfo')}/{_xenc('EncryptedKey')}"))
    if len(keys) != 1:
        raise EnvelopeSecurityError("ENCRYPTION_REFERENCE", f"{len(keys)} EncryptedKey; one")
    key_method = keys[0].find(_xenc("EncryptionMethod"))
    digest = key_method.find(_ds("DigestMethod")) if key_method is not None else None
    if key_method is None or key_method.get("Algorithm") != RSA_OAEP_MGF1P or (
        digest is not None and digest.get("Algorithm") != SHA1
    ):
        algorithm = key_method.get("Algorithm") if key_method is not None else None
        raise EnvelopeSecurityError("ENCRYPTION_ALGORITHM", f"key transport {algorithm}")


def _check_addressee(encrypted: etree._Element, certificate: x509.Certificate) -> None:
    key_info = encrypted.find(f"{_ds('KeyInfo')}/{_xenc('EncryptedKey')}/{_ds('KeyInfo')}")
    addressee = _embedded_certificate(key_info)
    if addressee is not None and addressee != certificate:
        raise EnvelopeSecurityError(
            "NOT_FOR_RECIPIENT",
            f"encrypted to {subject_text(addressee.subject)} (SHA-256 "
            f"{fingerprint(addressee)}), not to {subject_text(certificate.subject)}",
        )


def _check_certificate(
    certificate: x509.Certificate, usage: str, role: str, *, at: dt.datetime | None = None
) -> None:
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise EnvelopeSecurityError("CERTIFICATE_UNSUITABLE", f"the {role}'s key is not RSA")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    if key_usage is not None and not getattr(key_usage, usage):
        raise EnvelopeSecurityError(
            "CERTIFICATE_UNSUITABLE", f"the {role}'s certificate does not allow {usage}"
        )
    moment = at or dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise EnvelopeSecurityError(
            "CERTIFICATE_EXPIRED",
            f"the {role}'s certificate is valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}",
        )


def _payload_element(root: etree._Element) -> etree._Element:
    contents = list(root.iterfind(f"{{{NS_XHA}}}Payloads/{{{NS_XHA}}}Payload/"
                                  f"{{{NS_XHA}}}PayloadContent"))
    if len(contents) != 1:
        raise EnvelopeSecurityError("PAYLOAD", f"{len(contents)} PayloadContent; one")
    elements = [child for child in contents[0] if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise EnvelopeSecurityError("PAYLOAD", f"{len(elements)} payload elements; one")
    return elements[0]


def _indicator(root: etree._Element) -> bool | None:
    found = root.find(f"{{{NS_XHA}}}Payloads/{{{NS_XHA}}}Payload/"
                      f"{{{NS_XHB}}}InstanceEncryptionIndicator")
    value = (found.text or "").strip() if found is not None else ""
    return {"true": True, "1": True, "false": False, "0": False}.get(value)


# A KeysManager loads the system's CA store when made (~0.1 s): keep one per key and thread.
_MANAGERS_PER_THREAD = 8
_local = threading.local()


def _keys_manager(key: bytes, key_format: int) -> xmlsec.KeysManager:
    """Return this thread's keys manager holding only key (a certificate or a private key)."""
    managers: dict[bytes, xmlsec.KeysManager] = _local.__dict__.setdefault("managers", {})
    manager = managers.get(key)
    if manager is None:
        if len(managers) >= _MANAGERS_PER_THREAD:
            managers.pop(next(iter(managers)))
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(key, key_format))
        managers[key] = manager
    return manager


def _xmlsec_key(certificate: x509.Certificate,
                private_pem: Callable[[], bytes] | None = None) -> xmlsec.Key:
    """Return this thread's xmlsec key for the certificate: its public key, or with
    `private_pem` the private key carrying the certificate. Parsing PEM costs as much as a
    signature verification; a context takes a copy of the key it is given, so one serves every
    envelope."""
    keys: dict[tuple[bytes, bool], xmlsec.Key] = _local.__dict__.setdefault("keys", {})
    cache_key = (certificate.fingerprint(hashes.SHA256()), private_pem is not None)
    key = keys.get(cache_key)
    if key is None:
        if len(keys) >= _MANAGERS_PER_THREAD:
            keys.pop(next(iter(keys)))
        if private_pem is None:
            key = xmlsec.Key.from_memory(_pem(certificate), xmlsec.constants.KeyDataFormatCertPem)
        else:
            key = xmlsec.Key.from_memory(private_pem(), xmlsec.constants.KeyDataFormatPem)
            key.load_cert_from_memory(_pem(certificate), xmlsec.constants.KeyDataFormatCertPem)
        keys[cache_key] = key
    return key


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
