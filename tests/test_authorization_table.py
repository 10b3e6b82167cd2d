"""Every route against every principal (DESIGN 6: "every endpoint is checked against every role
in tests"), on SQLite and PostgreSQL.

The routes come from the app's URL map: a route added without a row here fails
`test_every_route_is_in_the_table`, naming it. Each row says who may call the route; everyone
else is refused the way the route's kind refuses (a web page: the login page for a visitor, 403
for another role, 404 for the same role on another unit's or VC's inquiry; an API: 401 without a
valid token, 403 for a token without the scope, 404 for a client that is no party, 403 for the
other side where the access service says so), and every refusal but the visitor's login page
leaves a denied entry in the audit log. What directory admins, statisticians and auditors are
allowed never shows the person's name or personnummer.

One app and one seeded database per backend; each call runs in a savepoint that is rolled back
after it, and with a fresh cookie jar, so no call changes what the next one sees (a logout, a
closed inquiry, a removed absence). CSRF is off here: it is tested on its own, and with it on a
visitor's POST would be refused for its token before anyone looked at who it is.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from gateway import create_app
from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES
from gateway.auth.models import Role
from gateway.db import database, get_session
from gateway.directory.models import Absence, Assignment, SenderUnit
from signing.devpki import PkiLayout
from tests.conftest import test_config
from tests.support.forms import KRYDDGARDEN, TOLVAN
from tests.support.intake import bearer, new_client
from tests.support.pdfs import TestPki
from tests.support.pki import install_pki
from tests.support.reko import (
    ANNA,
    CECILIA,
    KRYDDGARDEN_ADDRESS,
    SKANE,
    parties_and_inquiry,
    post_answer,
    signed_answer,
)
from tests.support.sip import sip_kallelse
from tests.support.web import Browser, add_user

OPERATOR_TOKEN = "operator-token-for-the-authorization-table-0123456789"
# Every call comes from elsewhere than loopback: loopback is an operator (gateway.operator).
REMOTE = {"REMOTE_ADDR": "192.0.2.10"}
PRIVATE_VC_ORG = "0007:5561234567"  # the demo directory's third organisation


class P(enum.StrEnum):
    """The principals: who calls."""

    ANONYMOUS = "anonymous"
    CASE_WORKER = "case_worker"  # EBB Öster: sent the inquiry
    CASE_WORKER_OTHER = "case_worker_other_unit"  # EBB Norr
    REKO = "reko"  # Anna, Kryddgården: the inquiry is routed there
    REKO_OTHER = "reko_other_vc"  # Cecilia, Husie
    DIRECTORY_ADMIN = "directory_admin"
    STATISTICIAN = "statistician"
    AUDITOR = "auditor"
    OPERATOR = "operator"  # the operator token (GATEWAY_METRICS_TOKEN), no login
    CLIENT_SENDER = "client_sender"  # EBB Öster's system
    CLIENT_VC = "client_vc"  # Kryddgården's REKO system
    CLIENT_OTHER_VC = "client_other_vc"  # Husie's: the VC's organisation, no party
    CLIENT_OTHER_ORG = "client_other_org"  # Privat Vårdcentral AB's: another organisation
    FEW_SCOPES = "token_without_scopes"  # Kryddgården's client, a token with no scope
    EXPIRED = "token_expired"  # Kryddgården's client, an expired token


WEB_USERS = frozenset({P.CASE_WORKER, P.CASE_WORKER_OTHER, P.REKO, P.REKO_OTHER,
                       P.DIRECTORY_ADMIN, P.STATISTICIAN, P.AUDITOR})
CLIENTS = frozenset({P.CLIENT_SENDER, P.CLIENT_VC, P.CLIENT_OTHER_VC, P.CLIENT_OTHER_ORG})
EVERYONE = frozenset(P)
ROLE_OF = {P.CASE_WORKER: Role.CASE_WORKER, P.CASE_WORKER_OTHER: Role.CASE_WORKER,
           P.REKO: Role.COORDINATOR, P.REKO_OTHER: Role.COORDINATOR,
           P.DIRECTORY_ADMIN: Role.DIRECTORY_ADMIN, P.STATISTICIAN: Role.STATISTICIAN,
           P.AUDITOR: Role.AUDITOR}


class Kind(enum.Enum):
    PUBLIC = "public"  # anyone (what it shows does not depend on who asks, or it is a login)
    WEB = "web"  # role_required: login page, 403 for another role, 404 for another unit
    API = "api"  # require_token: 401, 403 for a missing scope, 404 (or 403) for no party
    # A statistician's web session or a token with urn:kryddgarden:stats: 401 without either,
    # 403 for another role or a token without that scope.
    STATS_API = "stats_api"
    OPERATOR = "operator"  # 404 to all but the operator (not audited: the route "is not there")


@dataclass(frozen=True)
class Row:
    """Who may call one route (method and rule), and how the others are refused."""

    kind: Kind
    allowed: frozenset[P] = frozenset()
    roles: frozenset[Role] = frozenset()  # WEB: the roles role_required lets in
    scoped: bool = True  # API: needs a scope (a token without any gets 403)
    other_side: frozenset[P] = frozenset()  # API: clients refused with 403, not 404
    body: dict[str, Any] = field(default_factory=dict)


def web(roles: set[Role], allowed: set[P] | None = None, **kwargs: Any) -> Row:
    """A page for `roles`; `allowed` narrows it to those principals (another unit's 404)."""
    everyone_in_role = {p for p, r in ROLE_OF.items() if r in roles}
    return Row(Kind.WEB, frozenset(allowed if allowed is not None else everyone_in_role),
               frozenset(roles), **kwargs)


def api(allowed: set[P], *, scoped: bool = True, other_side: set[P] | None = None,
        **kwargs: Any) -> Row:
    with_token = set(allowed) | ({P.FEW_SCOPES} if not scoped else set())
    return Row(Kind.API, frozenset(with_token), scoped=scoped,
               other_side=frozenset(other_side or ()), **kwargs)


PUBLIC = Row(Kind.PUBLIC, EVERYONE)
CW, RK, ADMIN = Role.CASE_WORKER, Role.COORDINATOR, Role.DIRECTORY_ADMIN
ALL_CLIENTS = set(CLIENTS)
PARTIES = {P.CLIENT_SENDER, P.CLIENT_VC}
PDF_BODY = {"data": b"%PDF-1.7\n% who may answer is decided first\n",
            "content_type": "application/pdf"}

# The table: (method, rule) -> who may. DESIGN 6: a case worker sees their unit's inquiries, a
# REKO their VCs'; directory admins, statisticians and auditors never see content. API clients
# act for their functional addresses only (DESIGN 5.4, the access service).
TABLE: dict[tuple[str, str], Row] = {
    # --- public: logins, health, the API description, static files, the token endpoint ---
    ("GET", "/"): web(set(Role)),
    ("GET", "/hitta-reko"): web(set(Role)),  # the directory's work contacts, no content
    ("GET", "/konto/kontakt"): web(set(Role)),  # the user's own work phone and e-mail
    ("POST", "/konto/kontakt"): web(set(Role)),
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/login/otp"): PUBLIC,
    ("POST", "/login/otp"): PUBLIC,
    ("POST", "/login/certifikat"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,  # details only to the operator (tests/test_http_edge.py)
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("POST", "/oauth/token"): PUBLIC,
    ("GET", "/oauth/token"): PUBLIC,
    ("PUT", "/oauth/token"): PUBLIC,
    ("PATCH", "/oauth/token"): PUBLIC,
    ("DELETE", "/oauth/token"): PUBLIC,
    # The access point: mutual TLS at the server (gateway ap), the envelope's signature after.
    ("POST", "/ap/v1/envelopes"): PUBLIC,
    ("GET", "/metrics"): Row(Kind.OPERATOR, frozenset({P.OPERATOR})),
    # --- the case worker's pages ---
    ("GET", "/arenden"): web({CW}),
    ("POST", "/arenden/personuppgifter"): web({CW}),
    ("GET", "/arenden/person"): web({CW}),
    ("POST", "/arenden/person"): web({CW}),
    ("GET", "/arenden/ny"): web({CW}),
    ("POST", "/arenden/ny"): web({CW}),
    ("GET", "/arenden/<inquiry_id>"): web({CW}, {P.CASE_WORKER}),
    ("GET", "/arende/<inquiry_id>/svar.pdf"): web({CW}, {P.CASE_WORKER}),
    ("GET", "/arende/<inquiry_id>/svar"): web({CW}, {P.CASE_WORKER}),
    ("POST", "/arende/<inquiry_id>/registrerad"): web({CW}, {P.CASE_WORKER}),
    ("POST", "/arende/<inquiry_id>/avsluta"): web({CW}, {P.CASE_WORKER}),
    # Sending on to another VC with a new consent: the sending unit's only (issue 14).
    ("GET", "/arenden/<inquiry_id>/skicka-vidare"): web({CW}, {P.CASE_WORKER}),
    ("POST", "/arenden/<inquiry_id>/skicka-vidare"): web({CW}, {P.CASE_WORKER}),
    # SIP (issue 18): a new invitation; one invitation, its outcome and plan (the sending unit's).
    ("GET", "/arenden/sip/ny"): web({CW}),
    ("POST", "/arenden/sip/ny"): web({CW}),
    ("GET", "/arenden/sip/<sip_id>"): web({CW}, {P.CASE_WORKER}),
    ("POST", "/arenden/sip/<sip_id>/utfall"): web({CW}, {P.CASE_WORKER}),
    ("POST", "/arenden/sip/<sip_id>/plan"): web({CW}, {P.CASE_WORKER}),
    ("GET", "/arenden/sip/<sip_id>/plan.pdf"): web({CW}, {P.CASE_WORKER}),
    ("GET", "/samtycke/aterkallat"): web({CW}),
    ("POST", "/samtycke/aterkallat"): web({CW}),
    # --- the REKO's pages ---
    ("GET", "/inkorg"): web({RK}),
    ("POST", "/inkorg/enhet"): web({RK}),
    ("POST", "/inkorg/personuppgifter"): web({RK}),
    ("POST", "/inkorg/<inquiry_id>/reko-status"): web({RK}, {P.REKO}),
    ("GET", "/inkorg/<inquiry_id>"): web({RK}, {P.REKO}),
    ("GET", "/inkorg/<inquiry_id>/samtycke.pdf"): web({RK}, {P.REKO}),
    ("POST", "/inkorg/<inquiry_id>/svar"): web({RK}, {P.REKO}),
    ("GET", "/inkorg/<inquiry_id>/svara"): web({RK}, {P.REKO}),
    ("POST", "/inkorg/<inquiry_id>/svara"): web({RK}, {P.REKO}),
    ("POST", "/inkorg/<inquiry_id>/svara/forbered"): web({RK}, {P.REKO}),
    ("POST", "/inkorg/<inquiry_id>/avsluta"): web({RK}, {P.REKO}),
    ("POST", "/inkorg/<inquiry_id>/omdirigera"): web({RK}, {P.REKO}),
    # A SIP invitation's page is /inkorg/<id> too; the REKO replies and takes the calendar file.
    ("POST", "/inkorg/<sip_id>/sip-svar"): web({RK}, {P.REKO}),
    ("GET", "/inkorg/<sip_id>/kalender.ics"): web({RK}, {P.REKO}),
    ("GET", "/inkorg/<sip_id>/plan.pdf"): web({RK}, {P.REKO}),
    # --- the directory admin's pages (no content) ---
    ("GET", "/katalog/"): web({ADMIN}),
    ("GET", "/katalog/vardcentraler"): web({ADMIN}),
    ("GET", "/katalog/vardcentraler/ny"): web({ADMIN}),
    ("POST", "/katalog/vardcentraler/ny"): web({ADMIN}),
    ("GET", "/katalog/vardcentraler/<hsa_id>"): web({ADMIN}),
    ("POST", "/katalog/vardcentraler/<hsa_id>"): web({ADMIN}),
    ("GET", "/katalog/reko"): web({ADMIN}),
    ("GET", "/katalog/reko/ny"): web({ADMIN}),
    ("POST", "/katalog/reko/ny"): web({ADMIN}),
    ("GET", "/katalog/reko/<hsa_id>"): web({ADMIN}),
    ("POST", "/katalog/reko/<hsa_id>"): web({ADMIN}),
    ("GET", "/katalog/uppdrag"): web({ADMIN}),
    ("POST", "/katalog/uppdrag"): web({ADMIN}),
    ("GET", "/katalog/uppdrag/<int:assignment_id>/avsluta"): web({ADMIN}),
    ("POST", "/katalog/uppdrag/<int:assignment_id>/avsluta"): web({ADMIN}),
    ("GET", "/katalog/franvaro"): web({ADMIN}),
    ("POST", "/katalog/franvaro"): web({ADMIN}),
    ("POST", "/katalog/franvaro/<int:absence_id>/ta-bort"): web({ADMIN}),
    ("GET", "/katalog/avsandare"): web({ADMIN}),
    ("GET", "/katalog/avsandare/ny"): web({ADMIN}),
    ("POST", "/katalog/avsandare/ny"): web({ADMIN}),
    ("GET", "/katalog/avsandare/<int:unit_id>"): web({ADMIN}),
    ("POST", "/katalog/avsandare/<int:unit_id>"): web({ADMIN}),
    ("GET", "/katalog/historik"): web({ADMIN}),
    ("GET", "/katalog/kuvert"): web({ADMIN}),
    # Who would get an inquiry: the directory's routing, for admins and case workers.
    ("GET", "/katalog/vem-far"): web({ADMIN, CW}),
    # --- the statistician's pages and API (no personal data) ---
    ("GET", "/statistik"): web({Role.STATISTICIAN}),
    ("GET", "/statistik/export.csv"): web({Role.STATISTICIAN}),
    ("GET", "/statistik/export.xlsx"): web({Role.STATISTICIAN}),
    ("GET", "/statistik/export-sip.csv"): web({Role.STATISTICIAN}),
    ("GET", "/api/v1/stats/response-times"): Row(Kind.STATS_API, frozenset({P.STATISTICIAN})),
    ("GET", "/api/v1/stats/sip"): Row(Kind.STATS_API, frozenset({P.STATISTICIAN})),
    # --- the auditor's pages (the log, never content) ---
    ("GET", "/granskning"): web({Role.AUDITOR}),
    ("POST", "/granskning"): web({Role.AUDITOR}),
    ("GET", "/granskning/post/<int:seq>"): web({Role.AUDITOR}),
    ("GET", "/granskning/kedjan"): web({Role.AUDITOR}),
    ("POST", "/granskning/kedjan"): web({Role.AUDITOR}),
    ("GET", "/granskning/loggutdrag"): web({Role.AUDITOR}),
    ("GET", "/granskning/loggutdrag.csv"): web({Role.AUDITOR}),
    # --- the gateway API ---
    ("GET", "/api/v1/whoami"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/care-units"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/care-units/<hsa_id>"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/functional-addresses"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/sender-units"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/coordinators"): api(ALL_CLIENTS, scoped=False),
    ("GET", "/api/v1/directory/route"): api(ALL_CLIENTS, scoped=False),
    # Anyone may try to send: the form's sender is checked against the client's addresses.
    ("POST", "/api/v1/inquiries"): api(ALL_CLIENTS),
    ("GET", "/api/v1/inquiries/<inquiry_id>"): api(PARTIES),
    ("POST", "/api/v1/inquiries/<inquiry_id>/answer"): api(
        {P.CLIENT_VC}, other_side={P.CLIENT_SENDER}, body=PDF_BODY),
    ("GET", "/api/v1/inquiries/<inquiry_id>/answer"): api(
        {P.CLIENT_SENDER}, other_side={P.CLIENT_VC}),
    ("POST", "/api/v1/inquiries/<inquiry_id>/registered"): api(
        {P.CLIENT_SENDER}, other_side={P.CLIENT_VC}),
    ("POST", "/api/v1/inquiries/<inquiry_id>/close"): api(PARTIES),
    ("POST", "/api/v1/inquiries/<inquiry_id>/reroute"): api(PARTIES),
    # SIP (DESIGN 5.8): the VC's client replies, the sender's records the outcome.
    ("POST", "/api/v1/sip"): api(ALL_CLIENTS),
    ("GET", "/api/v1/sip/<sip_id>"): api(PARTIES),
    ("POST", "/api/v1/sip/<sip_id>/reply"): api({P.CLIENT_VC}, other_side={P.CLIENT_SENDER}),
    ("POST", "/api/v1/sip/<sip_id>/outcome"): api({P.CLIENT_SENDER}, other_side={P.CLIENT_VC}),
    ("POST", "/api/v1/sip/<sip_id>/plan"): api({P.CLIENT_SENDER}, other_side={P.CLIENT_VC},
                                               body=PDF_BODY),
    # --- the SDK message API (each client sees its own messages) ---
    ("POST", "/v1/sdk/messages"): api(ALL_CLIENTS),
    ("GET", "/v1/sdk/messages"): api(ALL_CLIENTS),
    ("GET", "/v1/sdk/messages/<message_id>"): api(PARTIES),
    ("DELETE", "/v1/sdk/messages/<message_id>"): api(PARTIES),
}

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass
class Seeded:
    """The app, its connection (for a savepoint per call) and what the URLs and calls need."""

    app: Flask
    connection: Connection
    params: dict[str, str]
    cookies: dict[P, str]
    tokens: dict[P, str]


@pytest.fixture(scope="module")
def seeded(migrated_url: str, pki_template: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    instance = tmp_path_factory.mktemp("authz") / "instance"
    instance.mkdir()
    install_pki(instance, pki_template)
    app = create_app(test_config(instance, migrated_url, WTF_CSRF_ENABLED=False,
                                 METRICS_TOKEN=OPERATOR_TOKEN))
    db = database(app)
    connection = db.engine.connect()
    outer = connection.begin()
    db.bind_to(connection)
    try:
        with app.app_context():
            tokens, params = _seed(app)
            cookies = _logins(app)
        yield Seeded(app, connection, params, cookies, tokens)
    finally:
        outer.rollback()
        connection.close()
        db.engine.dispose()


def _seed(app: Flask) -> tuple[dict[P, str], dict[str, str]]:
    """The demo directory, one client per party and one answered inquiry; return the tokens
    and the values of the URLs' parameters."""
    found, http, inquiry_id = parties_and_inquiry(app, tuple(SDK_SCOPES))
    session = get_session()
    tokens = {
        P.CLIENT_SENDER: found.sender, P.CLIENT_VC: found.reko,
        P.CLIENT_OTHER_VC: found.other_vc,
        P.CLIENT_OTHER_ORG: new_client(session, organisation=PRIVATE_VC_ORG,
                                       addresses=(_private_address(),)),
        P.FEW_SCOPES: new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,),
                                 scopes=()),
        P.EXPIRED: new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,),
                              expires_in=-60),
        P.OPERATOR: OPERATOR_TOKEN,
    }
    pki = TestPki(PkiLayout.for_instance(Path(app.config["INSTANCE_PATH"])))
    answered = post_answer(http, found.reko, inquiry_id, signed_answer(pki, inquiry_id))
    assert answered.status_code == 201, answered.get_data(as_text=True)
    invited = http.post("/api/v1/sip", data=sip_kallelse(), content_type="application/xml",
                        headers=bearer(found.sender))
    assert invited.status_code == 201, invited.get_data(as_text=True)
    session = get_session()
    params = {
        "inquiry_id": inquiry_id, "message_id": inquiry_id, "filename": "gateway.css",
        "sip_id": invited.get_json()["id"],
        "hsa_id": KRYDDGARDEN,
        "unit_id": str(session.scalars(select(SenderUnit.id).order_by(SenderUnit.id)).first()),
        "assignment_id": str(session.scalars(select(Assignment.id)
                                             .order_by(Assignment.id)).first()),
        "absence_id": str(_an_absence(session)),
        "seq": "1",
    }
    return tokens, params


def _private_address() -> str:
    """A functional address of the third organisation (the demo directory gives it none)."""
    from tests.support.factories import FunctionalAddressFactory, OrganisationFactory

    made = FunctionalAddressFactory(address=f"sdk:reko:{PRIVATE_VC_ORG}",
                                    organisation=OrganisationFactory(id=PRIVATE_VC_ORG))
    get_session().commit()
    return str(made.address)


def _an_absence(session: Session) -> int:
    from tests.support.factories import AbsenceFactory

    existing = session.scalars(select(Absence.id).order_by(Absence.id)).first()
    if existing is not None:
        return existing
    absence = AbsenceFactory(coordinator=session.scalars(
        select(Assignment)).first().coordinator)  # type: ignore[union-attr]
    session.commit()
    return int(absence.id)


USERS = {
    P.CASE_WORKER: {"unit": "EBB Öster"},
    P.CASE_WORKER_OTHER: {"unit": "EBB Norr"},
    P.REKO: {"hsa_id": ANNA.hsa_id},
    P.REKO_OTHER: {"hsa_id": CECILIA.hsa_id},
    P.DIRECTORY_ADMIN: {}, P.STATISTICIAN: {}, P.AUDITOR: {},
}


def _logins(app: Flask) -> dict[P, str]:
    """Log each web principal in through the real login; return their session cookies."""
    cookies = {}
    for who, kwargs in USERS.items():
        secret = add_user(who.value, ROLE_OF[who], **kwargs)
        browser = Browser(app)
        browser.client.environ_base.update(REMOTE)
        browser.login(who.value, secret)
        cookie = browser.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        assert cookie is not None
        cookies[who] = cookie.value
    return cookies


# --- calling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int
    location: str
    denied: list[tuple[str, dict[str, Any]]]
    body: bytes


def _url(rule: str, params: dict[str, str]) -> str:
    path = rule
    for name, value in params.items():
        for converter in ("", "int:", "path:"):
            path = path.replace(f"<{converter}{name}>", value)
    assert "<" not in path, f"no value for a parameter of {rule}"
    return path


def _denied_since(session: Session, seq: int) -> list[tuple[str, dict[str, Any]]]:
    """Return (action, detail) of the denied entries after `seq`."""
    rows = session.execute(select(AuditEntry.action, AuditEntry.detail).where(
        AuditEntry.seq > seq, AuditEntry.outcome == "denied").order_by(AuditEntry.seq))
    return [(action, dict(detail or {})) for action, detail in rows]


def call(seeded: Seeded, who: P, method: str, rule: str, row: Row) -> Outcome:
    """Make the call as `who` in a savepoint; return what came back and the denials it left."""
    savepoint = seeded.connection.begin_nested()
    try:
        with seeded.app.app_context():
            session = get_session()
            last = session.scalar(select(func.max(AuditEntry.seq))) or 0
            client = seeded.app.test_client()
            if who in seeded.cookies:
                client.set_cookie(seeded.app.config["SESSION_COOKIE_NAME"], seeded.cookies[who])
            headers = bearer(seeded.tokens[who]) if who in seeded.tokens else {}
            kwargs: dict[str, Any] = dict(row.body) or (
                {} if method in ("GET", "DELETE") else {"data": {}})
            response = client.open(_url(rule, seeded.params), method=method, headers=headers,
                                   environ_base=REMOTE, **kwargs)
            status, location = response.status_code, response.headers.get("Location", "")
            body = response.get_data()
            response.close()
        with seeded.app.app_context():
            return Outcome(status, location, _denied_since(get_session(), last), body)
    finally:
        savepoint.rollback()


def expected_refusal(who: P, row: Row) -> int:
    """Return the status `who` is refused with on a row that does not allow it."""
    if row.kind is Kind.OPERATOR:
        return 404
    if row.kind is Kind.WEB:
        if who not in WEB_USERS:
            return 302
        return 403 if ROLE_OF[who] not in row.roles else 404
    if row.kind is Kind.STATS_API:
        return 403 if who in WEB_USERS or who in CLIENTS or who is P.FEW_SCOPES else 401
    # API
    if who in WEB_USERS or who in (P.ANONYMOUS, P.OPERATOR, P.EXPIRED):
        return 401
    if who is P.FEW_SCOPES:
        return 403
    return 403 if who in row.other_side else 404


def audited_refusal(who: P, row: Row) -> bool:
    """Whether the refusal must leave a denied entry: all but a visitor sent to the login page
    and the operator's routes that are not there for others."""
    return row.kind is not Kind.OPERATOR and not (row.kind is Kind.WEB and who not in WEB_USERS)


ACCESS_DENIALS = ("web.access", "api.access")
# DESIGN 6: directory admins, statisticians and auditors never see content.
NO_CONTENT = frozenset({P.DIRECTORY_ADMIN, P.STATISTICIAN, P.AUDITOR})
PERSONAL = (TOLVAN.encode(), f"{TOLVAN[:8]}-{TOLVAN[8:]}".encode(), b"Tolvansson")


def access_denials(outcome: Outcome) -> list[str]:
    """The denials that say "you may not" (not a refused answer's rule codes, say)."""
    return [action for action, detail in outcome.denied if action in ACCESS_DENIALS
            or detail.get("reason") in ("not_party", "other_side")]


def judge(seeded: Seeded, who: P, method: str, rule: str, row: Row) -> str | None:
    """Return what is wrong with the call as `who`, or None."""
    outcome = call(seeded, who, method, rule, row)
    seen = f"{who.value}: got {outcome.status}"
    if who in row.allowed:
        if outcome.status in (401, 403) or "/login" in outcome.location and row.kind is Kind.WEB:
            return f"{seen}, but the table allows it"
        if access_denials(outcome):
            return f"{seen} and a denial in the audit log, but the table allows it"
        if who in NO_CONTENT and any(mark in outcome.body for mark in PERSONAL):
            return f"{seen} with the person's name or personnummer in it"
        return None
    wanted = expected_refusal(who, row)
    if outcome.status != wanted:
        return f"{seen}, expected {wanted}"
    if wanted == 302 and "/login" not in outcome.location:
        return f"{seen} to {outcome.location}, expected the login page"
    if audited_refusal(who, row) and not outcome.denied:
        return f"{seen} as expected, but no denied entry in the audit log"
    return None


# --- the tests ---------------------------------------------------------------------------------


def app_routes(app: Flask) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - IGNORED_METHODS}


def test_every_route_is_in_the_table(seeded: Seeded) -> None:
    routes = app_routes(seeded.app)
    missing = sorted(routes - TABLE.keys())
    assert missing == [], f"routes without a row in the authorization table: {missing}"
    gone = sorted(TABLE.keys() - routes)
    assert gone == [], f"rows for routes the app no longer has: {gone}"


@pytest.mark.parametrize(("method", "rule"), sorted(TABLE), ids=[f"{m} {r}" for m, r in
                                                                  sorted(TABLE)])
def test_who_may_call_the_route(seeded: Seeded, method: str, rule: str) -> None:
    row = TABLE[(method, rule)]
    wrong = [found for who in P if (found := judge(seeded, who, method, rule, row))]
    assert wrong == [], f"{method} {rule}:\n  " + "\n  ".join(wrong)
