"""SDK message models for tests: a message with every optional part, a small one, and
hypothesis strategies for messages the builder must turn into valid XML."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import strategies as st

from forms.sdk.message import (
    Attention,
    ContentFile,
    Document,
    Header,
    Identifier,
    Message,
    Person,
    Recipient,
    Reference,
    Sender,
    SubOrganization,
    functional_address_id,
    organisation_id,
)

CREATED = dt.datetime(2024, 9, 2, 8, 15, 30, 125000, tzinfo=dt.UTC)
MALMO = "0203:malmo.se"
SKANE = "0203:skane.se"
EBB_OSTER = "sdk:ebb-oster:0203:malmo.se"
KRYDDGARDEN = "sdk:reko-kryddgarden:0203:skane.se"
PDF = b"%PDF-1.7\n% a test file, not a real PDF\n%%EOF\n"


def full_message() -> Message:
    """A message using every element of the format: two documents, several files and texts,
    persons and references on both sides, a reply in a conversation."""
    return Message(
        Header(
            creation_date_time=CREATED,
            message_id="5b1f4f0e-8e5c-4bd6-9a59-2f3b8f0e3c11",
            conversation_id="0c0f7a7e-1d3a-4c4e-8b1e-6f8e2b9d4a22",
            ref_to_message_id="9d4e2a61-7c1b-4f0e-a3d2-1b5c6e7f8a33",
            label="Svar på hälsoförfrågan",
            confidentiality=True,
            generating_system=Identifier("urn:kryddgarden:gateway", "test"),
            recipient=Recipient(
                organisation_id(MALMO),
                Attention(
                    SubOrganization(functional_address_id(EBB_OSTER), "EBB Öster"),
                    (Person(Identifier("1.2.752.29.6.2.1", "SE2120001959-P001"), "Sara H"),),
                    (Reference(Identifier("dnr", "EBB-2024-17"), "Diarienummer"),),
                ),
                "Malmö stad",
            ),
            sender=Sender(
                organisation_id(SKANE),
                Attention(
                    SubOrganization(functional_address_id(KRYDDGARDEN), "VC Kryddgården"),
                    (Person(None, "Anna Rekosson"), Person(Identifier("1.2.752.29.6.2.1", "P2"))),
                    (Reference(Identifier("1.2.752.129.2.1.3.1", "191212121212")),
                     Reference(Identifier("unregistred", "x"), "Övrigt")),
                ),
                "Region Skåne",
            ),
        ),
        (
            Document("svar", "Svar", "1",
                     (ContentFile("svar.pdf", "application/pdf", PDF),
                      ContentFile("svar.xml", "application/xml", b"<svar/>")),
                     ("# Svar\n\nSe **bilagan**.", "Andra texten")),
            Document("kopia", None, "2", (), ("Bara text",)),
        ),
    )


def small_message(**header: object) -> Message:
    """A message with only what the XSD requires (and one text)."""
    fields: dict[str, object] = {
        "creation_date_time": CREATED,
        "message_id": "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
        "conversation_id": "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
        "confidentiality": False,
        "recipient": Recipient(
            organisation_id(SKANE), Attention(SubOrganization(functional_address_id(KRYDDGARDEN)))
        ),
        "sender": Sender(organisation_id(MALMO)),
    }
    fields.update(header)
    return Message(Header(**fields), (Document("1", content_texts=("Hej",)),))  # type: ignore[arg-type]


# --- hypothesis -----------------------------------------------------------------------------

# Text XML can carry and the schematron finds non-empty: something beyond XML whitespace.
_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
)
texts = st.text(_CHARS, min_size=1, max_size=40).filter(lambda s: s.strip(" \t\r\n"))
# Short labels, and some at the 256-character limit.
labels = texts | st.text(_CHARS, min_size=256, max_size=256).filter(lambda s: s.strip(" \t\r\n"))
uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?"
organisations = st.from_regex(rf"0203:{_LABEL}(\.{_LABEL}){{1,2}}", fullmatch=True)
identifiers = st.builds(Identifier, texts, texts)
moments = st.datetimes(
    min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30),
    timezones=st.just(dt.UTC),
)


def _attention() -> st.SearchStrategy[Attention]:
    return st.builds(
        Attention,
        st.builds(SubOrganization, texts.map(functional_address_id), st.none() | labels),
        st.lists(
            st.builds(Person, st.none() | identifiers, labels)
            | st.builds(Person, identifiers, st.none()),
            max_size=2,
        ).map(tuple),
        st.lists(st.builds(Reference, identifiers, st.none() | labels), max_size=2).map(tuple),
    )


# An empty file cannot travel: its content element would be empty (verifyNonEmptyElements).
_files = st.builds(ContentFile, texts, texts, st.binary(min_size=1, max_size=300))
# Every document has a file or a text (B1.3.3 4.3.3.1).
_documents = st.builds(
    Document,
    texts,
    st.none() | texts,
    st.none() | texts,
    st.lists(_files, min_size=1, max_size=3).map(tuple),
    st.lists(texts, max_size=2).map(tuple),
) | st.builds(
    Document,
    texts,
    st.none() | texts,
    st.none() | texts,
    st.just(()),
    st.lists(texts, min_size=1, max_size=2).map(tuple),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Messages the builder must write as valid XML (DIGG's XSD and schematron agree)."""
    message_id = draw(uuids)
    return Message(
        Header(
            creation_date_time=draw(moments),
            message_id=message_id,
            conversation_id=draw(st.just(message_id) | uuids),
            confidentiality=draw(st.booleans()),
            recipient=Recipient(
                organisation_id(draw(organisations)), draw(_attention()), draw(st.none() | labels)
            ),
            sender=Sender(
                organisation_id(draw(organisations)),
                draw(st.none() | _attention()),
                draw(st.none() | labels),
            ),
            ref_to_message_id=draw(st.none() | uuids),
            label=draw(st.none() | labels),
            generating_system=draw(st.none() | identifiers),
        ),
        tuple(draw(st.lists(_documents, min_size=1, max_size=3))),
    )


def new_id() -> str:
    return str(uuid.uuid4())
