"""SDK envelope benchmark (issue 13): envelopes built (encrypt + sign) and opened (verify +
decrypt + validate) per second with forms.sdk and signing.xmlenvelope, against a floor of bare
python-xmlsec doing only the cryptography (encrypt + sign; verify + decrypt) on the same
payload with keys loaded once, as ratios measured in one run.

    python -m bench federation
    python -m bench.federation --runs 50

Payloads: a messagePayload carrying a hälsoförfrågan-sized file, and one carrying a 1 MB
attachment. The PKI lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import copy
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xmlsec
from lxml import etree

from bench._harness import Context, Row, at_most, in_turns
from forms.sdk.xhe import MESSAGE_NS, build_xhe, message_header, parse_xhe
from forms.xmlsafe import Limits, parse_xml
from signing.certificates import IssuedCertificate, load_key_pair
from signing.devpki import PkiLayout, init_pki
from signing.xmlenvelope import open_envelope, seal_envelope

DEFAULT_RUNS = 30
WARM_UP = 3
MALMO, SKANE = "0203:malmo.se", "0203:skane.se"
ADDRESS = "sdk:vc-kryddgarden:0203:skane.se"
PAYLOAD_SIZES = {"hälsoförfrågan (8 kB)": 8_000, "with a 1 MB attachment": 1_000_000}
LIMITS = Limits(max_bytes=8 * 1024 * 1024)
DS = "{http://www.w3.org/2000/09/xmldsig#}"
XENC = "{http://www.w3.org/2001/04/xmlenc#}"
XHA = "{http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents}"


@dataclass(frozen=True)
class Keys:
    signer: IssuedCertificate
    recipient: IssuedCertificate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.federation", description=__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per payload")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as folder:
        keys = _keys(folder)
        floor = Floor(keys)
        print(f"{args.runs} runs per payload after {WARM_UP} warm-up runs; median envelopes/s")
        print(f"{'payload':<26}{'step':<7}{'ours':>9}{'bare xmlsec':>13}{'ratio':>8}")
        for name, size in PAYLOAD_SIZES.items():
            payload = _payload(size)
            sealed = _build(payload, keys)
            steps = {
                "build": (lambda p=payload: _build(p, keys), lambda p=payload: floor.build(p)),
                "open": (lambda s=sealed: _open(s, keys), lambda s=sealed: floor.open(s)),
            }
            for step, (ours_run, bare_run) in steps.items():
                ours, bare = _per_second(ours_run, bare_run, args.runs)
                print(f"{name:<26}{step:<7}{ours:>9.1f}{bare:>13.1f}{bare / ours:>8.2f}")
    print("ratio: bare xmlsec envelopes/s over ours (1.00 = no cost beyond the cryptography)")
    return 0


def measure(context: Context) -> list[Row]:
    """A hälsoförfrågan-sized envelope built and opened: ours against bare xmlsec, in turns."""
    runs = 3 if context.quick else DEFAULT_RUNS * 2
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as folder:
        keys = _keys(folder)
        floor = Floor(keys)
        payload = _payload(8_000)
        sealed = _build(payload, keys)

        def ours() -> None:
            _build(payload, keys)
            _open(sealed, keys)

        def bare() -> None:
            floor.build(payload)
            floor.open(sealed)

        ours_rate, bare_rate = _per_second(ours, bare, runs)
    row = Row("federation", None, "ms per envelope", 1000 / ours_rate, 1000 / bare_rate,
              detail={"payload_bytes": 8_000, "runs": runs,
                      "steps": "build (encrypt, sign) + open (verify, decrypt, validate)"})
    return [at_most(row, 2)]


def _payload(size: int) -> etree._Element:
    """A messagePayload carrying one content file of `size` random bytes (base64)."""
    m = f"{{{MESSAGE_NS}}}"
    root = etree.Element(f"{m}messagePayload", nsmap={"m": MESSAGE_NS})
    header = etree.SubElement(etree.SubElement(root, f"{m}message"), f"{m}messageHeader")
    etree.SubElement(header, f"{m}label").text = "Hälsoförfrågan"
    body = etree.SubElement(root, f"{m}messageBody")
    etree.SubElement(body, f"{m}contentAsBase64").text = base64.b64encode(
        os.urandom(size)
    ).decode()
    return root


def _build(payload: etree._Element, keys: Keys) -> bytes:
    header = message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS)
    return seal_envelope(build_xhe(header, payload), keys.signer, recipient=keys.recipient.cert)


def _open(data: bytes, keys: Keys) -> None:
    opened = open_envelope(data, keys.signer.cert, keys.recipient)
    parse_xhe(opened.envelope.root)
    parse_xml(opened.payload, limits=LIMITS)


class Floor:
    """Only the cryptography, with python-xmlsec directly and keys loaded once."""

    def __init__(self, keys: Keys) -> None:
        pem = keys.recipient.cert_pem()
        self.encrypt_manager = xmlsec.KeysManager()
        self.encrypt_manager.add_key(
            xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
        )
        self.decrypt_manager = xmlsec.KeysManager()
        self.decrypt_manager.add_key(
            xmlsec.Key.from_memory(keys.recipient.key_pem(), xmlsec.constants.KeyDataFormatPem)
        )
        self.sign_key = xmlsec.Key.from_memory(
            keys.signer.key_pem(), xmlsec.constants.KeyDataFormatPem
        )
        self.sign_key.load_cert_from_memory(
            keys.signer.cert_pem(), xmlsec.constants.KeyDataFormatCertPem
        )
        self.verify_key = xmlsec.Key.from_memory(
            keys.signer.cert_pem(), xmlsec.constants.KeyDataFormatCertPem
        )
        header = message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS)
        self.envelope = build_xhe(header, etree.Element("placeholder"))

    def build(self, payload: etree._Element) -> bytes:
        root = copy.deepcopy(self.envelope)
        content = root.find(f"{XHA}Payloads/{XHA}Payload/{XHA}PayloadContent")
        assert content is not None
        content[0] = copy.deepcopy(payload)
        template = xmlsec.template.encrypted_data_create(
            root, xmlsec.constants.TransformAes256Cbc, type=xmlsec.constants.TypeEncElement
        )
        xmlsec.template.encrypted_data_ensure_cipher_value(template)
        info = xmlsec.template.encrypted_data_ensure_key_info(template)
        key = xmlsec.template.add_encrypted_key(info, xmlsec.constants.TransformRsaOaep)
        xmlsec.template.encrypted_data_ensure_cipher_value(key)
        context = xmlsec.EncryptionContext(self.encrypt_manager)
        context.key = xmlsec.Key.generate(
            xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
        )
        context.encrypt_xml(template, content[0])
        signature = xmlsec.template.create(
            root, xmlsec.constants.TransformInclC14N, xmlsec.constants.TransformRsaSha256
        )
        root.append(signature)
        reference = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=""
        )
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        signer = xmlsec.SignatureContext()
        signer.key = self.sign_key
        signer.sign(signature)
        return etree.tostring(root)

    def open(self, data: bytes) -> None:
        root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
        signature = root.find(f"{DS}Signature")
        assert signature is not None
        verifier = xmlsec.SignatureContext()
        verifier.key = self.verify_key
        verifier.verify(signature)
        encrypted = next(root.iter(f"{XENC}EncryptedData"))
        xmlsec.EncryptionContext(self.decrypt_manager).decrypt(encrypted)


def _per_second(
    ours: Callable[[], object], bare: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Return the median runs per second of ours and bare, timed in turns."""
    ours_s, bare_s = in_turns(ours, bare, runs, WARM_UP)
    return 1 / ours_s, 1 / bare_s


def _keys(folder: str) -> Keys:
    """A temporary PKI with Malmö's signing and Region Skåne's encryption keys."""
    layout = PkiLayout(Path(folder) / "pki")
    init_pki(layout.root, passphrase="bench", organisations={MALMO: "Malmö stad",
             SKANE: "Region Skåne"}, encryption_certificates=True)
    return Keys(load_key_pair(layout.org_cert(MALMO), layout.org_key(MALMO)),
                load_key_pair(layout.org_enc_cert(SKANE), layout.org_enc_key(SKANE)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
