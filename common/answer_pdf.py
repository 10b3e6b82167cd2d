"""Where an answer PDF carries its inquiry reference: the Info key and XMP property that the
renderer (forms) writes and rule P7 (signing) reads.

The Info dictionary's `/KryddgardenInquiry` and XMP's `pdfx:KryddgardenInquiry` (the namespace
Acrobat uses for custom Info keys, so the two stay in step when Acrobat re-saves a file).
"""

from __future__ import annotations

from pyhanko.pdf_utils.metadata import model

REFERENCE_INFO_KEY = "/KryddgardenInquiry"
PDFX_NS = "http://ns.adobe.com/pdfx/1.3/"
REFERENCE_XMP_NAME = model.ExpandedName(ns=PDFX_NS, local_name="KryddgardenInquiry")


def reference_xmp(reference: str) -> model.XmpStructure:
    """Return the XMP structure that carries reference (for DocumentMetadata.xmp_extra)."""
    return model.XmpStructure.of((REFERENCE_XMP_NAME, model.XmpValue(reference)))
