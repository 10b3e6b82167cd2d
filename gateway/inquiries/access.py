"""Who may read or act on an inquiry, its answer and its SDK messages: one decision, audited.

Every channel asks `decide` (or `require`, which raises) and only turns the verdict into its
own words: the gateway API and the web pages 404 or 403, the SDK API 404 (400 REF_UNKNOWN or
403 for an answer's refToMessageId), the SMTP listener 550 at RCPT.

Sides. An inquiry has two: the sender (the unit that sent it, whose functional address is
`reply_to`) and the care unit (the VC it is routed to now, `routed_to`). A party is on a side
as follows (`Party.sides`):

- an API client, when it holds that side's functional address;
- a case worker, when their sender unit sent the inquiry;
- a REKO, when they cover the care unit it is routed to (primary or deputy) on today's
  Swedish date.

A web user is on a side only through their role (a case worker's sender unit, a REKO's care
units); other roles are on no side and never see content.

Acts. Each act names the sides that may do it (`MAY`): reading the inquiry, closing and
re-routing it and deleting one's own view of its SDK messages are either side's; answering and
setting the REKO-status are the care unit's; fetching and registering the answer and sending the
inquiry on to another VC with a new consent (RESEND) are the sender's. A SIP invitation is an
inquiry of form type `sip` with the same two sides: replying is the care unit's, recording the
outcome and sharing the plan the sender's. A channel that serves one form type names it
(`require(..., form_type=...)`): an inquiry of another type is then as unknown as no inquiry.

Verdicts. ALLOWED when the party is on a side that may do the act. UNKNOWN when no inquiry has
the id, or the party is on neither side: the two read the same to a client (404; 550 5.1.1;
400 REF_UNKNOWN), so that no reply tells that an id exists. FORBIDDEN when the party is on the
other side only (the sender's client posting an answer, say): it knows the inquiry exists, it
sent or received it, so a 403 (550 5.7.1) tells it nothing new and says why. This is how
DESIGN 5.4's "any other client 403" for POST .../answer is read: a client that cannot see the
inquiry at all gets the 404 an unknown id gets.

Plain SDK messages (no form, no answer) have the same two sides: the function at their sender
address (SENDER) and the one at their recipient address (CARE_UNIT stands for the receiving
function); only API clients hold addresses, so only they are ever on a side
(`plain_sides`, `decide_plain`).

Audit. Every denied attempt on an existing inquiry is appended with outcome "denied", the act
as its action and the reason (`not_party` or `other_side`) and channel in its detail.
`record_denied` ends the request's transaction, so decide before doing any work. An id that
names no inquiry is not audited: there is nothing to name. Allowed reads are audited by the
services that read, with their purpose, once per access session (gateway.audit.reads).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from gateway import codes
from gateway.audit.service import record_denied
from gateway.auth.models import ApiClient, Role, User
from gateway.directory.service import covered_units
from gateway.errors import GatewayError, not_found
from gateway.inquiries.models import FormType, Inquiry, SdkMessage

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Side(enum.Enum):
    SENDER = "sender"
    CARE_UNIT = "care_unit"


EITHER = frozenset(Side)
SENDER = frozenset({Side.SENDER})
CARE_UNIT = frozenset({Side.CARE_UNIT})


class Act(enum.StrEnum):
    """What is attempted; the value is the audit action."""

    READ = "inquiry.read"
    CLOSE = "inquiry.close"
    REROUTE = "inquiry.reroute"
    RESEND = "inquiry.resend"
    MARK = "inquiry.mark"
    ANSWER = "answer.submit"
    COMPOSE = "answer.compose"
    READ_ANSWER = "answer.read"
    REGISTER = "answer.registered"
    DELETE_MESSAGE = "sdk.message.delete"
    REPLY = "sip.reply"
    OUTCOME = "sip.outcome"
    SHARE_PLAN = "sip.plan"


MAY: dict[Act, frozenset[Side]] = {
    Act.READ: EITHER,
    Act.CLOSE: EITHER,
    Act.REROUTE: EITHER,
    Act.RESEND: SENDER,
    Act.MARK: CARE_UNIT,
    Act.ANSWER: CARE_UNIT,
    Act.COMPOSE: CARE_UNIT,
    Act.READ_ANSWER: SENDER,
    Act.REGISTER: SENDER,
    Act.DELETE_MESSAGE: EITHER,
    Act.REPLY: CARE_UNIT,
    Act.OUTCOME: SENDER,
    Act.SHARE_PLAN: SENDER,
}
# Who may, in the words of a 403.
_ONLY = {
    CARE_UNIT: "Bara vårdcentralen som förfrågan gäller får göra detta.",
    SENDER: "Bara enheten som skickade förfrågan får göra detta.",
}


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    UNKNOWN = "unknown"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Party:
    """Who asks: the audit actor and what puts it on a side (see the module docstring)."""

    actor: str
    addresses: frozenset[str] = frozenset()
    sender_unit_id: int | None = None
    care_unit_ids: frozenset[int] = frozenset()

    @classmethod
    def client(cls, client: ApiClient) -> Party:
        """Return the party of an API client: its functional addresses."""
        return cls(f"client:{client.client_id}",
                   addresses=frozenset(a.address for a in client.functional_addresses))

    @classmethod
    def user(cls, session: Session, user: User, today: dt.date | None = None) -> Party:
        """Return the party of a web user: a case worker's sender unit, or the care units a
        REKO covers on `today` (default: today's Swedish date)."""
        actor = f"user:{user.username}"
        if user.role is Role.CASE_WORKER:
            return cls(actor, sender_unit_id=user.sender_unit_id)
        if user.role is Role.COORDINATOR:
            units = covered_units(session, user.coordinator_id, today or stockholm_today())
            return cls(actor, care_unit_ids=frozenset(unit.id for unit in units))
        return cls(actor)

    def sides(self, inquiry: Inquiry) -> frozenset[Side]:
        """Return the sides of the inquiry the party is on (none, one or both)."""
        found = set()
        if inquiry.reply_to in self.addresses or (
            self.sender_unit_id is not None and inquiry.sender_unit_id == self.sender_unit_id
        ):
            found.add(Side.SENDER)
        if inquiry.routed_to in self.addresses or inquiry.care_unit_id in self.care_unit_ids:
            found.add(Side.CARE_UNIT)
        return frozenset(found)

    def visible(self) -> ColumnElement[bool]:
        """Return `sides(inquiry)` is not empty as an SQL condition on Inquiry, for lists."""
        terms: list[ColumnElement[bool]] = []
        if self.addresses:
            addresses = sorted(self.addresses)
            terms += [Inquiry.reply_to.in_(addresses), Inquiry.routed_to.in_(addresses)]
        if self.sender_unit_id is not None:
            terms.append(Inquiry.sender_unit_id == self.sender_unit_id)
        if self.care_unit_ids:
            terms.append(Inquiry.care_unit_id.in_(sorted(self.care_unit_ids)))
        return or_(*terms) if terms else false()


@dataclass(frozen=True)
class Decision:
    """The verdict on one attempt, the inquiry it concerns (None when unknown) and the sides
    the party is on."""

    verdict: Verdict
    inquiry: Inquiry | None
    sides: frozenset[Side] = frozenset()

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED


def actor_sides(session: Session, actor: str, inquiry: Inquiry) -> frozenset[Side]:
    """Return the sides of the inquiry an audit actor ("user:NAME", "client:ID") is on today;
    none for any other actor (the worker, a peer gateway) or one that no longer exists."""
    kind, _, name = actor.partition(":")
    if kind == "user":
        user = session.scalar(select(User).where(User.username == name))
        return Party.user(session, user).sides(inquiry) if user is not None else frozenset()
    if kind == "client":
        client = session.scalar(select(ApiClient).where(ApiClient.client_id == name))
        return Party.client(client).sides(inquiry) if client is not None else frozenset()
    return frozenset()


# What a 404 says is not there, per form type.
_NOUN = {FormType.HALSOFORFRAGAN: "Hälsoförfrågan", FormType.SIP: "SIP-kallelsen"}


def find_inquiry(session: Session, inquiry_id: str,
                 form_type: FormType | None = None) -> Inquiry | None:
    """Return the inquiry the id names (of `form_type`, when given); None for an id that is no
    UUID (it names nothing) or names another form type's."""
    wanted = inquiry_id.strip().lower()
    found = session.get(Inquiry, wanted) if _UUID.match(wanted) else None
    if found is not None and form_type is not None and found.form_type != form_type:
        return None
    return found


def decide(party: Party, inquiry: Inquiry | None, act: Act, *, channel: str) -> Decision:
    """Return whether the party may do the act on the inquiry; a denial of an existing inquiry
    is audited at once (and ends the request's transaction)."""
    if inquiry is None:
        return Decision(Verdict.UNKNOWN, None)
    sides = party.sides(inquiry)
    if sides & MAY[act]:
        return Decision(Verdict.ALLOWED, inquiry, sides)
    record_denied(actor=party.actor, action=act.value, object_type="inquiry",
                  object_id=inquiry.id,
                  detail={"reason": "other_side" if sides else "not_party", "channel": channel})
    return Decision(Verdict.FORBIDDEN if sides else Verdict.UNKNOWN, inquiry, sides)


def plain_sides(party: Party, row: SdkMessage) -> frozenset[Side]:
    """Return the sides of a plain message the party is on (see the module docstring)."""
    found = set()
    if row.sender_address in party.addresses:
        found.add(Side.SENDER)
    if row.recipient_address in party.addresses:
        found.add(Side.CARE_UNIT)
    return frozenset(found)


def decide_plain(party: Party, row: SdkMessage | None, act: Act, *, channel: str) -> bool:
    """Return whether the party may do the act on the plain message; a denial of an existing
    one is audited at once (and ends the request's transaction), as `decide` does."""
    if row is None:
        return False
    if plain_sides(party, row) & MAY[act]:
        return True
    record_denied(actor=party.actor, action=act.value, object_type="sdk_message",
                  object_id=row.message_id, detail={"reason": "not_party", "channel": channel})
    return False


def refusal(decision: Decision, act: Act,
            form_type: FormType = FormType.HALSOFORFRAGAN) -> GatewayError:
    """Return the HTTP-shaped refusal of a denied decision: 404 NOT_FOUND or 403 NOT_PARTY."""
    if decision.verdict is Verdict.FORBIDDEN:
        return GatewayError.at(codes.NOT_PARTY, _ONLY[MAY[act]], status=403)
    return not_found(_NOUN[form_type])


def require(session: Session, party: Party, inquiry_id: str, act: Act, *,
            channel: str, form_type: FormType | None = None) -> Inquiry:
    """Return the inquiry when the party may do the act on it.

    Raises GatewayError 404 NOT_FOUND for an unknown inquiry or one the party is no party to,
    403 NOT_PARTY when the act is the other side's (see the module docstring).
    """
    decision = decide(party, find_inquiry(session, inquiry_id, form_type), act, channel=channel)
    if decision.inquiry is None or not decision.allowed:
        raise refusal(decision, act, form_type or FormType.HALSOFORFRAGAN)
    return decision.inquiry
