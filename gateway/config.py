"""Settings: GATEWAY_* environment variables parsed and checked into Flask config."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forms.sdk.message_rules import MAX_MESSAGE_BYTES
from gateway.errors import ConfigError
from signing.xmlenvelope import sealed_size_limit

# B1.4.2: "Access token lifetime: Max 30 min".
MAX_TOKEN_LIFETIME = 1800


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"expected a number above 0, got {raw!r}")
    return value


def _token_lifetime(raw: str) -> int:
    value = _positive_int(raw)
    if value > MAX_TOKEN_LIFETIME:
        raise ValueError(
            f"at most {MAX_TOKEN_LIFETIME} seconds (B1.4.2: an access token lives at most "
            f"30 minutes), got {raw!r}"
        )
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _host_port(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {raw!r}")
    return raw


def _day_list(raw: str) -> tuple[int, ...]:
    """Whole numbers of days (0 or more), ','-separated, e.g. "2,0"; empty: none."""
    days = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"expected whole numbers of days separated by ',', got {raw!r}"
                             ) from None
        if value < 0:
            raise ValueError(f"expected days of 0 or more, got {raw!r}")
        days.append(value)
    return tuple(sorted(set(days), reverse=True))


def _path_list(raw: str) -> list[str]:
    return [part for part in raw.split(":") if part]


def _word_list(raw: str) -> list[str]:
    return [part.strip().lower() for part in raw.split(",") if part.strip()]


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError(f"expected a sqlite:/// or postgresql:// URL, got {raw.split(':')[0]!r}")
    if raw.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; SQLAlchemy would otherwise pick psycopg2.
        return "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


@dataclass(frozen=True)
class Setting:
    """One GATEWAY_* variable: its config key, parser and default."""

    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("INSTANCE_PATH", str, None, "instance folder (keys, PKI, SQLite); default ./instance"),
    Setting("DATABASE_URL", _database_url, None, "SQLAlchemy URL; default SQLite in the instance"),
    Setting("SECRET_KEY", str, None, "session signing key; generated into the instance if unset"),
    Setting(
        "TRUST_ROOTS", _path_list, None, "PEM files trusted for answer signatures, ':'-separated"
    ),
    Setting(
        "CRLS", _path_list, None,
        "CRL files for revocation checks of answer signers, ':'-separated; default the "
        "development CA's when TRUST_ROOTS is the development CA, else none",
    ),
    Setting(
        "REVOCATION_FETCH", _boolean, False,
        "also check revocation online (the certificates' CRL distribution points and OCSP)",
    ),
    Setting(
        "REVOCATION_TIMEOUT", _positive_int, 10,
        "seconds each online revocation request may take (with REVOCATION_FETCH)",
    ),
    Setting("SMTP_RELAY", _host_port, None, "host:port of the relay for outgoing mail"),
    Setting(
        "SMTP_RELAY_CA", str, None,
        "PEM file of the CA that verifies the relay's STARTTLS certificate; default system store",
    ),
    Setting(
        "SMTP_RELAY_TIMEOUT", _positive_int, 10,
        "seconds to wait for the relay to connect or answer one command",
    ),
    Setting(
        "SMTP_RELAY_PAUSE_SECONDS", _positive_int, 60,
        "seconds mail waits after the relay failed several times in a row (circuit breaker)",
    ),
    Setting("SMTP_RELAY_USERNAME", str, None, "user name for AUTH at the relay (after STARTTLS)"),
    Setting("SMTP_RELAY_PASSWORD", str, None, "password for AUTH at the relay"),
    Setting("MAIL_FROM", str, None, "sender of outgoing mail; default gateway@<first SMTP domain>"),
    Setting("SMTP_DOMAINS", _word_list, ["localhost"], "mail domains the SMTP listener accepts"),
    Setting("BASE_URL", str, "http://127.0.0.1:5000", "public base URL used in links in e-mail"),
    Setting("ANSWER_DAYS", _positive_int, 30, "days from received to the answer deadline"),
    Setting(
        "SIP_REPLY_REMINDER_DAYS", _day_list, (2, 0),
        "days before a SIP invitation's reply due date (svarSenast) its REKOs are reminded while "
        "it has no reply, ','-separated (0: on the day)",
    ),
    Setting(
        "SIP_MEETING_REMINDER_DAYS", _day_list, (1,),
        "days before a SIP meeting its REKOs are reminded when they replied KOMMER, "
        "','-separated (0: on the day)",
    ),
    Setting("CONSENT_MAX_MONTHS", _positive_int, 12, "longest consent validity (rule C3)"),
    Setting("REPEAT_DAYS", _positive_int, 90, "days within which a new inquiry is a repeat"),
    Setting(
        "RECEIPT_ORGANISATION", str, "0203:skane.se",
        "organisation whose function certificate (dev PKI) signs intake receipts",
    ),
    Setting("TSA_URL", str, None, "RFC 3161 timestamp service; default the development TSA"),
    Setting(
        "AUDIT_ANCHOR_MINUTES", _positive_int, 5,
        "minutes between timestamps of the audit chain head (only when entries were appended)"
    ),
    Setting("COOKIE_SECURE", _boolean, True, "send session cookies over HTTPS only"),
    Setting(
        "RETENTION_DAYS", _positive_int, 180,
        "days after closure before an inquiry's personal content is purged",
    ),
    Setting("SESSION_IDLE_MINUTES", _positive_int, 30, "log out after this much inactivity"),
    Setting("SESSION_MAX_HOURS", _positive_int, 10, "log out this long after login, whatever"),
    Setting("LOGIN_MAX_FAILURES", _positive_int, 5, "failed logins before throttling"),
    Setting("LOGIN_WINDOW_MINUTES", _positive_int, 15, "window for counting failed logins"),
    Setting(
        "JOBS_KEPT_DAYS", _positive_int, 30,
        "days finished jobs and sent mails are kept (the daily jobs.prune and mail.prune)",
    ),
    Setting(
        "LOGIN_ATTEMPTS_KEPT_DAYS", _positive_int, 30,
        "days login and token attempts are kept (the daily auth.prune deletes older ones)",
    ),
    Setting(
        "LOGIN_ADDRESS_MAX_FAILURES", _positive_int, 50,
        "failed logins from one address (any account) before throttling it",
    ),
    Setting(
        "TOKEN_LIFETIME", _token_lifetime, MAX_TOKEN_LIFETIME,
        "seconds an OAuth access token lives (at most 1800: B1.4.2)",
    ),
    Setting(
        "JOB_LEASE_SECONDS", _positive_int, 60,
        "seconds a worker's claim on a job lasts unless renewed (a running job renews it)",
    ),
    Setting(
        "PROXY_HOPS", int, 0, "reverse proxies in front (nginx: 1) whose X-Forwarded-* to trust"
    ),
    Setting(
        "METRICS_TOKEN", str, None,
        "bearer token that lets a scraper read /metrics from elsewhere than loopback",
    ),
    Setting(
        "LARGE_BODIES_PER_PROCESS", _positive_int, 2,
        "request bodies over 1 MiB one web process takes at a time; more get 503",
    ),
    Setting(
        "FEDERATION_CA", _path_list, None,
        "PEM files trusted for peers' TLS certificates and envelope signatures, ':'-separated; "
        "default the development CA",
    ),
    Setting(
        "PEER_GIVE_UP_HOURS", _positive_int, 24,
        "hours after which an envelope a peer did not take is MESSAGE_EXCHANGE_ERROR",
    ),
    Setting(
        "AP_MAX_BYTES", _positive_int, sealed_size_limit(MAX_MESSAGE_BYTES),
        "largest envelope the access point takes (413 above); the default fits SDK's largest "
        "message (30 MB) encrypted and signed",
    ),
    Setting("JOB_BACKLOG_LIMIT", _positive_int, 1000, "due jobs above which /readyz fails"),
    Setting(
        "CERT_LOGIN_HEADER", str, None,
        "header in which nginx passes a verified client certificate's HSA-id; unset: "
        "certificate login off",
    ),
    Setting(
        "CERT_LOGIN_SECRET", str, None,
        "secret nginx sends in X-Gateway-Proxy-Secret, so the HSA-id header is believed only "
        "from nginx",
    ),
)


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return config values for every GATEWAY_* variable set; raise ConfigError naming bad ones."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        name = f"GATEWAY_{setting.key}"
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))
    return values


def defaults() -> dict[str, Any]:
    """Return the default value of every setting."""
    return {s.key: s.default for s in SETTINGS if s.default is not None}


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the settings whose defaults depend on the instance folder; return config."""
    instance = Path(config.get("INSTANCE_PATH") or "instance").resolve()
    config["INSTANCE_PATH"] = str(instance)
    config.setdefault("DATABASE_URL", None)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'gateway.sqlite'}"
    else:
        config["DATABASE_URL"] = _database_url(config["DATABASE_URL"])
    # The development CA's CRL is the default only with the development CA: beside a region's
    # own root it covers none of its signers, and every answer would fail P3.
    if not config.get("TRUST_ROOTS"):
        config["TRUST_ROOTS"] = [str(instance / "pki" / "ca.pem")]
        if not config.get("CRLS"):
            config["CRLS"] = [str(instance / "pki" / "ca.crl")]
    config["CRLS"] = list(config.get("CRLS") or [])
    if not config.get("FEDERATION_CA"):
        config["FEDERATION_CA"] = [str(instance / "pki" / "ca.pem")]
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = instance_secret(instance, "secret_key")
    return config


def instance_secret(instance: Path, name: str, nbytes: int = 32) -> str:
    """Return the secret stored in the instance folder under name, creating it on first use."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_hex(nbytes)
    # O_EXCL: when two processes start at once, one creates and the other reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
