"""Reading an untrusted PDF within bounds: open it (P1), walk its objects for active content (P8)
and read its inquiry reference (P7), refusing compression bombs, deep nesting and huge graphs.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import (
    DecodeLimits,
    DecodePurpose,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler

from signing.errors import SigningError
from signing.pdfmeta import MetadataError, reference_from_info, reference_from_xmp

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 30 * MIB  # DESIGN 5.3, P1 (and SDK's largest message)

# pyhanko's defaults let one stream inflate to 256 MiB and a document to 100 times its size;
# an answer is a few pages of text, so one stream may give 64 MiB and a whole document
# 128 MiB or 8 times its size, whichever is more.
DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=MIB, max_output_size=64 * MIB),
    document_budget=DocumentDecodeBudget(base_allowance=128 * MIB, max_ratio=8),
)
# Bounds on the object graph: an answer has tens of objects, a long scanned one thousands.
MAX_OBJECTS = 100_000
MAX_DEPTH = 64
# Every revision is analysed again for each signature, so their number bounds the work.
MAX_REVISIONS = 32
MAX_SIGNATURE_FIELDS = 16

# Errors pyhanko and the libraries below it raise on malformed input. Anything else escaping
# from reading a file is a bug, and propagates.
MALFORMED = (
    misc.PdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    EOFError,
    OverflowError,
    RecursionError,
    NotImplementedError,
    UnicodeError,
    zlib.error,
    struct.error,
)


class PdfRefused(SigningError):
    """The file cannot be read within the bounds of P1; message in Swedish, detail technical."""

    code = "P1"

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class ActiveContent:
    """Something P8 refuses: its kind and the object it was found in."""

    kind: str  # "javascript" | "launch" | "embedded_file" | "xfa" | an OUTWARD_ACTIONS kind
    where: str


@dataclass(frozen=True)
class DocumentScan:
    """What the walk over the final revision found."""

    objects: int
    revisions: int
    active_content: tuple[ActiveContent, ...]


def open_pdf(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PdfFileReader:
    """Return a lenient reader (strict=False, see PITFALLS) with our decode limits on data.

    Raises PdfRefused when data is too large, not a PDF, unreadable, encrypted or has more
    revisions than we analyse.
    """
    if len(data) > max_bytes:
        raise PdfRefused(
            f"Filen är {_mb(len(data))} MB; högst {_mb(max_bytes)} MB tas emot.",
            f"size {len(data)} > max {max_bytes} bytes",
        )
    if b"%PDF-" not in data[:1024]:
        raise PdfRefused("Filen är inte en PDF.", "no %PDF- header in the first 1024 bytes")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False, decode_limits=DECODE_LIMITS)
        encrypted = reader.encrypt_dict is not None
        revisions = reader.xrefs.total_revisions
        reader.root  # noqa: B018 - resolving the catalog proves the file can be read
    except misc.PdfDecodeLimitError as exc:
        raise _bomb(exc) from None
    except RecursionError:
        raise _too_deep() from None
    except MALFORMED as exc:
        raise PdfRefused(
            "Filen kunde inte läsas som PDF; den kan vara trasig eller avkortad.", _describe(exc)
        ) from None
    if encrypted:
        raise PdfRefused("Krypterade PDF-filer tas inte emot.", "the trailer has /Encrypt")
    if revisions > MAX_REVISIONS:
        raise PdfRefused(
            f"Filen har {revisions} versioner; högst {MAX_REVISIONS} tas emot.",
            f"{revisions} revisions > {MAX_REVISIONS}",
        )
    return reader


def scan_document(reader: PdfFileReader) -> DocumentScan:
    """Walk every object reachable from the trailer, decoding each stream within the limits.

    Returns what was found for P8; raises PdfRefused for a compression bomb, too many objects,
    too deep nesting or objects that cannot be read.
    """
    walker = _Walker()
    try:
        walker.walk(reader.trailer_view)
    except PdfRefused:
        raise
    except misc.PdfDecodeLimitError as exc:
        raise _bomb(exc) from None
    except RecursionError:
        raise _too_deep() from None
    except MALFORMED as exc:
        raise PdfRefused("Filen innehåller objekt som inte kan läsas.", _describe(exc)) from None
    return DocumentScan(walker.count, reader.xrefs.total_revisions, tuple(walker.found))


def references(
    handler: PdfHandler, read: dict[bytes, str | None] | None = None
) -> tuple[str, ...]:
    """Return the inquiry references in handler's Info dictionary and XMP (0, 1 or 2 values).

    `read` keeps the reference of each XMP packet already read (revisions of one file mostly
    share theirs), so a packet is parsed once.
    Raises MetadataError for metadata that cannot be read, PdfRefused for a bomb in it.
    """
    found: list[str] = []
    try:
        info = handler.trailer_view["/Info"]
    except KeyError:
        info = None
    value = reference_from_info(info)
    if value is not None:
        found.append(value)
    xmp = _xmp_bytes(handler)
    if xmp is not None:
        read = {} if read is None else read
        if xmp not in read:
            read[xmp] = reference_from_xmp(xmp)
        value = read[xmp]
        if value is not None:
            found.append(value)
    return tuple(found)


def _xmp_bytes(handler: PdfHandler) -> bytes | None:
    try:
        metadata = handler.root.raw_get("/Metadata")
    except KeyError:
        return None
    metadata = metadata.get_object() if isinstance(metadata, generic.IndirectObject) else metadata
    if not isinstance(metadata, generic.StreamObject):
        return None
    try:
        return metadata.read_data(DecodePurpose.XMP_METADATA)
    except misc.PdfDecodeLimitError as exc:
        raise _bomb(exc) from None
    except (misc.PdfStreamError, NotImplementedError, zlib.error) as exc:
        raise MetadataError(f"the XMP stream cannot be decoded: {exc}") from None


class _Walker:
    """An iterative depth-first walk (no recursion of our own) over the object graph."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.count = 0
        self.found: list[ActiveContent] = []

    def walk(self, start: generic.PdfObject) -> None:
        stack: list[tuple[generic.PdfObject, int, str]] = [(start, 0, "trailer")]
        while stack:
            obj, depth, where = stack.pop()
            if isinstance(obj, generic.IndirectObject):
                key = (obj.idnum, obj.generation)
                if key in self.seen:
                    continue
                self._count(key)
                where = f"objekt {obj.idnum} {obj.generation}"
                obj, depth = obj.get_object(), 0
            children = self._visit(obj, where)
            # A direct child lies one level deeper (a reference starts again at 0).
            if depth >= MAX_DEPTH and any(
                not isinstance(child, generic.IndirectObject) for child in children
            ):
                raise PdfRefused(
                    "Filens objekt är nästlade för djupt.",
                    f"direct nesting deeper than {MAX_DEPTH} in {where}",
                )
            # Only what can hold more is walked further: numbers, names and strings are done.
            stack.extend((child, depth + 1, where) for child in children
                         if isinstance(child, _CONTAINERS))

    def _count(self, key: tuple[int, int]) -> None:
        self.seen.add(key)
        self.count += 1
        if self.count > MAX_OBJECTS:
            raise PdfRefused(
                f"Filen har fler än {MAX_OBJECTS} objekt.", f"more than {MAX_OBJECTS} objects"
            )

    def _visit(self, obj: generic.PdfObject, where: str) -> list[generic.PdfObject]:
        """Check obj (decode a stream, note active content); return its children."""
        if isinstance(obj, generic.StreamObject):
            _decode(obj)
        if isinstance(obj, generic.DictionaryObject):
            self.found.extend(ActiveContent(kind, where) for kind in _active_kinds(obj))
            return list(obj.values())
        if isinstance(obj, generic.ArrayObject):
            return list(list.__iter__(obj))
        return []


_CONTAINERS = (generic.IndirectObject, generic.DictionaryObject, generic.ArrayObject)


def _decode(stream: generic.StreamObject) -> None:
    """Decode stream within the limits; only a bomb matters, other decoding errors do not
    (pyhanko cannot decode image filters, and a viewer copes with a damaged image)."""
    purpose = (
        DecodePurpose.XMP_METADATA if _name(stream, "/Type") == "/Metadata"
        else DecodePurpose.GENERIC
    )
    try:
        stream.read_data(purpose)
    except misc.PdfDecodeLimitError:
        raise
    except (misc.PdfStreamError, NotImplementedError, zlib.error, ValueError, KeyError):
        pass


# Actions that leave the document (other files, the network, a form's submission, imported
# data) or play media; JavaScript and Launch have kinds of their own. The walk reaches every
# object, so these are found wherever they sit: open actions, additional actions (/AA),
# annotations and the name tree.
OUTWARD_ACTIONS = {
    "/GoToR": "goto_remote",
    "/GoToE": "goto_embedded",
    "/SubmitForm": "submit_form",
    "/ImportData": "import_data",
    "/URI": "uri",
    "/Rendition": "media",
    "/Sound": "media",
    "/Movie": "media",
}


def _active_kinds(d: generic.DictionaryObject) -> Iterator[str]:
    action = _name(d, "/S")
    if "/JS" in d or action == "/JavaScript" or "/JavaScript" in d:
        yield "javascript"
    if action == "/Launch":
        yield "launch"
    if action in OUTWARD_ACTIONS:
        yield OUTWARD_ACTIONS[action]
    if (
        "/EmbeddedFiles" in d
        or "/EF" in d
        or _name(d, "/Type") == "/EmbeddedFile"
        or _name(d, "/Subtype") == "/FileAttachment"
    ):
        yield "embedded_file"
    if "/XFA" in d:
        yield "xfa"


def _name(d: generic.DictionaryObject, key: str) -> str | None:
    value = d.get(key)
    if isinstance(value, generic.IndirectObject):
        value = value.get_object()
    return str(value) if isinstance(value, generic.NameObject) else None


def _bomb(exc: Exception) -> PdfRefused:
    return PdfRefused(
        "Filen innehåller komprimerad data som packas upp till mer än tillåtet "
        "(en så kallad komprimeringsbomb).",
        f"decode limit: {exc}",
    )


def _too_deep() -> PdfRefused:
    # Python's recursion limit stops pyhanko's recursive parser: nesting or a reference loop.
    return PdfRefused(
        "Filens objekt är nästlade för djupt eller hänvisar till varandra i en slinga.",
        "recursion limit reached while reading",
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _mb(size: int) -> str:
    return f"{size / MIB:.1f}".replace(".", ",")
