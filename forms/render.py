"""The answer PDF: A4, Swedish, an embedded font, laid out as a medical statement (the person,
the inquiry, the issuer, one section per question asked), the inquiry reference in metadata and
on every page, and empty signature fields for the REKO and a physician."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_date, pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from common.answer_pdf import REFERENCE_INFO_KEY, reference_xmp
from forms.answer import StructuredAnswer, check_answer
from forms.halsoforfragan import Fraga
from forms.statement import InquiryFacts, Statement, statement

SIGNATURE_FIELD_REKO = "reko"
SIGNATURE_FIELD_PHYSICIAN = "lakare"
TITLE = "Svar på hälsoförfrågan"
SUBTITLE = "Utlåtande från vårdcentral till socialtjänsten, lämnat med personens samtycke"
CONFIDENTIAL = "Innehåller uppgifter som omfattas av sekretess"
CREATOR = "Kryddgården Gateway"

# Bitstream Vera ships inside reportlab (so no system font is needed) and covers å ä ö.
FONT_DIR = Path(reportlab.__file__).resolve().parent / "fonts"
FONT = "KryddgardenVera"
FONT_BOLD = "KryddgardenVera-Bold"
FONT_ITALIC = "KryddgardenVera-Italic"
_fonts_lock = threading.Lock()

MARGIN = 20 * mm
SIGNATURE_BOX_HEIGHT = 25 * mm
SIGNATURE_GAP = 10 * mm


@dataclass
class _SignaturePlaces:
    """Where the signature block landed: page (1-based) and each box in PDF points."""

    page: int = 0
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def render_answer_pdf(
    answer: StructuredAnswer,
    inquiry_reference: str,
    questions: Sequence[Fraga],
    *,
    facts: InquiryFacts | None = None,
) -> bytes:
    """Return the answer as a PDF ready to be signed in fields "reko" and "lakare".

    The layout is a Swedish medical statement: the person, the inquiry, the issuer (VC, REKO,
    physician), then each question with its answer (forms.statement says what, for the PDF
    and the case worker's page alike). questions are the inquiry's, in its order; facts are
    the person and the inquiry (left out in benchmarks). inquiry_reference goes into the
    metadata (rule P7). Raises FormError when the answer does not answer exactly the questions
    asked.
    """
    check_answer(answer, inquiry_id=answer.forfragan_id, questions=questions)
    reference = _clean(inquiry_reference)
    if not reference:
        raise ValueError("an inquiry reference is required")
    _register_fonts()
    places = _SignaturePlaces()
    shown = _clean(facts.reference) if facts is not None and facts.reference.strip() else reference
    body = _layout(statement(answer, questions, facts), reference, shown, places)
    return _finish(body, answer, reference, places)


# --- layout with reportlab -----------------------------------------------------------------


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("brodtext", fontName=FONT, fontSize=10.5, leading=14.5)
    return {
        "body": base,
        "title": ParagraphStyle("rubrik", base, fontName=FONT_BOLD, fontSize=17, leading=22,
                                spaceAfter=1 * mm),
        "subtitle": ParagraphStyle("underrubrik", base, fontSize=10, leading=13,
                                   textColor=colors.HexColor("#444444"), spaceAfter=2 * mm),
        "section": ParagraphStyle("avsnitt", base, fontName=FONT_BOLD, fontSize=11.5,
                                  leading=15, spaceBefore=2.5 * mm, spaceAfter=1 * mm),
        "heading": ParagraphStyle("fraga", base, fontName=FONT_BOLD, fontSize=11, leading=15,
                                  spaceBefore=3 * mm, spaceAfter=1 * mm),
        "question": ParagraphStyle("fragetext", base, fontName=FONT_ITALIC, spaceAfter=1.5 * mm),
        "label": ParagraphStyle("etikett", base, fontName=FONT_BOLD, fontSize=9.5, leading=13),
        "small": ParagraphStyle("liten", base, fontSize=9, leading=12),
    }


def _layout(content: Statement, reference: str, shown: str, places: _SignaturePlaces) -> bytes:
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(TITLE, styles["title"]),
        Paragraph(SUBTITLE, styles["subtitle"]),
    ]
    for section in content.sections:
        story += [Paragraph(_markup(section.title), styles["section"]),
                  _facts_table(section.rows, styles)]
    story.append(Paragraph("Frågor och svar", styles["section"]))
    for item in content.questions:
        story.append(Paragraph(f"{item.number}. {_markup(item.heading)}", styles["heading"]))
        if item.question:
            story.append(Paragraph(f"Fråga: {_markup(item.question)}", styles["question"]))
        story.append(Paragraph(_markup(item.answer), styles["body"]))
    story += [
        Spacer(1, 4 * mm),
        Paragraph(
            f"<b>SIP rekommenderas:</b> {'Ja' if content.sip_recommended else 'Nej'}",
            styles["body"],
        ),
        Spacer(1, 5 * mm),
        KeepTogether(_SignatureBlock(places, styles["small"])),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 6 * mm,
        bottomMargin=MARGIN,
        title=TITLE,
        subject=f"Förfrågan {reference}",
        creator=CREATOR,
        lang="sv-SE",
        # Otherwise the canvas starts in Helvetica, a font the PDF would not embed.
        initialFontName=FONT,
    )

    def decorate(canvas: Canvas, doc: Any) -> None:
        _page_decoration(canvas, shown)

    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _facts_table(rows: Sequence[tuple[str, str]], styles: dict[str, ParagraphStyle]) -> Table:
    """A boxed two-column table (label, value), as the fields of a medical certificate."""
    cells = [
        [Paragraph(_markup(label), styles["label"]), Paragraph(_markup(value), styles["body"])]
        for label, value in rows
    ]
    # The table's own font is set too: its default, Helvetica, would not be embedded.
    style = TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#666666")),
        ("INNERGRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#F0F0F0")),
    ])
    return Table(cells, colWidths=[45 * mm, None], hAlign="LEFT", style=style)


class _SignatureBlock(Flowable):
    """Two labelled boxes (REKO, physician) whose page and place are recorded when drawn,
    so the signature fields can be laid exactly over them."""

    def __init__(self, places: _SignaturePlaces, style: ParagraphStyle) -> None:
        super().__init__()
        self.places = places
        self.style = style
        self.width = 0.0

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, SIGNATURE_BOX_HEIGHT + 8 * mm

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:  # noqa: N802
        box_width = (self.width - SIGNATURE_GAP) / 2
        self.places.page = canvas.getPageNumber()
        self.places.boxes = [
            _box(x + offset, y, box_width) for offset in (0, box_width + SIGNATURE_GAP)
        ]
        super().drawOn(canvas, x, y, _sW)

    def draw(self) -> None:
        canvas = self.canv
        box_width = (self.width - SIGNATURE_GAP) / 2
        labels = ("Underskrift rehabkoordinator", "Underskrift läkare (vid medundertecknande)")
        for index, label in enumerate(labels):
            left = index * (box_width + SIGNATURE_GAP)
            canvas.setStrokeGray(0.4)
            canvas.rect(left, 0, box_width, SIGNATURE_BOX_HEIGHT)
            canvas.setFont(FONT, 9)
            canvas.drawString(left, SIGNATURE_BOX_HEIGHT + 2.5 * mm, label)


def _box(left: float, bottom: float, width: float) -> tuple[int, int, int, int]:
    return (round(left), round(bottom), round(left + width), round(bottom + SIGNATURE_BOX_HEIGHT))


def _page_decoration(canvas: Canvas, reference: str) -> None:
    width, height = A4
    canvas.saveState()
    canvas.setFont(FONT, 8.5)
    canvas.setFillGray(0.3)
    canvas.drawString(MARGIN, height - MARGIN + 2 * mm, f"{TITLE} · Referens {reference}")
    canvas.drawString(MARGIN, MARGIN - 8 * mm, CONFIDENTIAL)
    canvas.drawRightString(width - MARGIN, MARGIN - 8 * mm, f"Sida {canvas.getPageNumber()}")
    canvas.restoreState()


# --- metadata and signature fields with pyhanko ----------------------------------------------


def _finish(
    body: bytes, answer: StructuredAnswer, reference: str, places: _SignaturePlaces
) -> bytes:
    """Copy reportlab's output into one clean revision with our metadata and the fields."""
    if not places.page or len(places.boxes) != 2:
        raise RuntimeError("the signature block was not laid out")  # a bug of ours
    created = answer.besvarad.astimezone(dt.UTC)
    info = generic.DictionaryObject({
        pdf_name("/Title"): generic.TextStringObject(TITLE),
        pdf_name("/Subject"): generic.TextStringObject(f"Förfrågan {reference}"),
        pdf_name("/Author"): generic.TextStringObject(answer.besvarad_av.namn),
        pdf_name("/Creator"): generic.TextStringObject(CREATOR),
        pdf_name("/Producer"): generic.TextStringObject(CREATOR),
        pdf_name("/CreationDate"): pdf_date(created),
        pdf_name("/ModDate"): pdf_date(created),
        pdf_name(REFERENCE_INFO_KEY): generic.TextStringObject(reference),
    })
    reader = PdfFileReader(io.BytesIO(body))
    writer = copy_into_new_writer(reader, writer_kwargs={"info": info})
    meta = writer.document_meta
    meta.title = TITLE
    meta.subject = f"Förfrågan {reference}"
    meta.author = answer.besvarad_av.namn
    meta.creator = CREATOR
    meta.created = created
    meta.xmp_extra = [reference_xmp(reference)]
    for name, box in zip(
        (SIGNATURE_FIELD_REKO, SIGNATURE_FIELD_PHYSICIAN), places.boxes, strict=True
    ):
        append_signature_field(writer, SigFieldSpec(name, on_page=places.page - 1, box=box))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _register_fonts() -> None:
    with _fonts_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "VeraBd.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_ITALIC, str(FONT_DIR / "VeraIt.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC)


def _markup(text: str) -> str:
    """Return text safe for reportlab's paragraph markup: escaped, line breaks kept, and
    control characters (which no font draws) removed."""
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return escape(cleaned).replace("\n", "<br/>")


def _clean(value: str) -> str:
    return "".join(ch for ch in value.strip() if ch.isprintable())
