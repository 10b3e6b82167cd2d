"""Reading an answer PDF's inquiry reference for rule P7, from the Info dictionary and from XMP
(where the renderer writes it: common.answer_pdf)."""

from __future__ import annotations

from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.metadata import model

from common.answer_pdf import PDFX_NS, REFERENCE_INFO_KEY, REFERENCE_XMP_NAME
from signing.errors import SigningError

RDF_NS = model.NS["rdf"]
# A reference is an id, not prose: anything longer is not ours.
MAX_REFERENCE_LENGTH = 200
# XMP packets of real files are a few KiB; pyhanko already caps the decoded stream.
MAX_XMP_BYTES = 4 * 1024 * 1024


class MetadataError(SigningError, ValueError):
    """Metadata that cannot be read (malformed XMP, a reference of the wrong type)."""

    code = "PDF_METADATA"


def reference_from_info(info: object) -> str | None:
    """Return the reference in an Info dictionary, None if absent; raise MetadataError if odd."""
    if not isinstance(info, generic.DictionaryObject):
        return None
    if REFERENCE_INFO_KEY not in info:
        return None
    value = info[REFERENCE_INFO_KEY]
    if isinstance(value, generic.TextStringObject):
        return _clean(str(value))
    if isinstance(value, generic.ByteStringObject):
        return _clean(value.original_bytes.decode("latin-1"))
    raise MetadataError(f"{REFERENCE_INFO_KEY} is a {type(value).__name__}, not a string")


def reference_from_xmp(data: bytes) -> str | None:
    """Return pdfx:KryddgardenInquiry from an XMP packet, None if absent.

    Raises MetadataError for XML that is not safe or not well-formed, or for two different
    values in one packet.
    """
    if len(data) > MAX_XMP_BYTES:
        raise MetadataError(f"the XMP packet is {len(data)} bytes; at most {MAX_XMP_BYTES}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MetadataError("the XMP packet declares a DTD or entities")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"the XMP packet is not well-formed XML: {exc.msg}") from None
    if root is None:
        return None
    values = {_clean(text) for text in _reference_texts(root)}
    values.discard(None)
    if len(values) > 1:
        raise MetadataError("the XMP packet holds more than one inquiry reference")
    return values.pop() if values else None


def _reference_texts(root: etree._Element) -> list[str]:
    """Return the reference in either XMP form: an element or an rdf:Description attribute."""
    tag = f"{{{PDFX_NS}}}{REFERENCE_XMP_NAME.local_name}"
    texts = [element.text or "" for element in root.iter(tag)]
    texts += [
        element.get(tag, "") for element in root.iter(f"{{{RDF_NS}}}Description")
        if element.get(tag) is not None
    ]
    return texts


def _clean(value: str) -> str | None:
    """Return value stripped; None when blank; raise MetadataError when it is not a reference."""
    stripped = value.strip()
    if not stripped:
        return None
    if len(stripped) > MAX_REFERENCE_LENGTH or not stripped.isprintable():
        raise MetadataError("the inquiry reference in the metadata is not a plausible id")
    return stripped


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )
