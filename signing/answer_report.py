"""The validation report of an answer PDF: raw facts per signer, one result per rule P1–P9, the
verdict as a property (pyHanko's shape), JSON for storing, and the directory rule P4/P6."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from common.rules import RuleReport, RuleResult, failed, not_evaluated, passed
from common.rules import RuleStatus as RuleStatus  # re-exported: the results carry it

REPORT_VERSION = 1
# Rules validate_answer decides; P4 and P6 need the directory (apply_signer_rule).
DOCUMENT_RULES = ("P1", "P2", "P3", "P5", "P7", "P8", "P9")
DIRECTORY_RULES = ("P4", "P6")
ALL_RULES = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")

# What each rule asks, in Swedish, for people reading the report.
RULE_TITLES: Mapping[str, str] = {
    "P1": "En läsbar PDF inom storleksgränsen",
    "P2": "Minst en underskrift, och varje underskrift är oförändrad och giltig",
    "P3": "Certifikaten är utfärdade av en betrodd utfärdare, giltiga och får användas för "
    "underskrift",
    "P4": "En underskrift är gjord av en rehabkoordinator på vårdcentralen",
    "P5": "Den sista underskriften omfattar hela filen",
    "P6": "Medundertecknare registreras",
    "P7": "Filens förfrågningsreferens gäller denna förfrågan",
    "P8": "Inget JavaScript, inga startkommandon, inga utåtriktade åtgärder och inga inbäddade "
          "filer",
    "P9": "Tidsstämpel och signeringstid är rimliga",
}


class SignerRole(enum.StrEnum):
    REKO = "reko"
    CO_SIGNER = "co_signer"


@dataclass(frozen=True)
class SignerRecord:
    """One signature as found in the file: who signed, when, what it covers and its checks."""

    field_name: str
    revision: int
    is_last: bool
    subfilter: str
    subject: str
    subject_cn: str | None
    # The subject serialNumber: the HSA-id on SITHS-style certificates.
    hsa_id: str | None
    issuer: str
    fingerprint: str
    signing_time: dt.datetime | None
    timestamp_time: dt.datetime | None
    timestamp_valid: bool | None
    coverage: str | None
    modification_level: str | None
    docmdp_ok: bool | None
    intact: bool
    valid: bool
    trusted: bool
    trust_problem: str | None
    error: str | None = None
    role: SignerRole | None = None


@dataclass(frozen=True)
class DocumentTimestampRecord:
    """A document timestamp (PAdES B-LTA): not a signer, but checked by P2, P5 and P9."""

    field_name: str
    revision: int
    is_last: bool
    time: dt.datetime | None
    tsa: str
    coverage: str | None
    intact: bool
    valid: bool
    trusted: bool
    error: str | None = None


@dataclass(frozen=True)
class SignerIdentity:
    """What the gateway matches against the directory for P4: HSA-id and fingerprint."""

    field_name: str
    hsa_id: str | None
    fingerprint: str
    signing_time: dt.datetime | None


@dataclass(frozen=True)
class AnswerReport(RuleReport):
    """The validation of one answer PDF. `ok` is the verdict and needs P4 and P6 applied."""

    results: tuple[RuleResult, ...]
    size: int
    sha256: str
    received_at: dt.datetime
    validated_at: dt.datetime
    expected_reference: str | None = None
    inquiry_reference: str | None = None
    signers: tuple[SignerRecord, ...] = ()
    document_timestamps: tuple[DocumentTimestampRecord, ...] = ()
    version: int = REPORT_VERSION

    @property
    def ok(self) -> bool:
        """True when every rule P1–P9 passed (so apply_signer_rule must have run)."""
        codes = {result.code for result in self.results}
        return codes >= set(ALL_RULES) and all(result.passed for result in self.results)

    @property
    def bottom_line(self) -> bool:
        """The verdict, under pyHanko's name for it."""
        return self.ok

    @property
    def document_ok(self) -> bool:
        """True when every rule decided from the file alone passed (all but P4 and P6)."""
        return all(self.result(code).passed for code in DOCUMENT_RULES)

    @property
    def signer_identities(self) -> tuple[SignerIdentity, ...]:
        return tuple(
            SignerIdentity(s.field_name, s.hsa_id, s.fingerprint, s.signing_time)
            for s in self.signers
        )

    @property
    def reko_signer(self) -> SignerRecord | None:
        return next((s for s in self.signers if s.role is SignerRole.REKO), None)

    @property
    def co_signers(self) -> tuple[SignerRecord, ...]:
        return tuple(s for s in self.signers if s.role is SignerRole.CO_SIGNER)

    @staticmethod
    def rule_title(code: str) -> str:
        """Return what rule `code` asks, in Swedish."""
        return RULE_TITLES.get(code, code)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (datetimes as ISO 8601 strings)."""
        data = _jsonable(dataclasses.asdict(self))
        data["results"] = [result.to_dict() for result in self.results]
        data["ok"] = self.ok
        data["failed_codes"] = list(self.failed_codes)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerReport:
        """Return the report stored by to_dict; raise ValueError if it is not one."""
        try:
            if data["version"] != REPORT_VERSION:
                raise ValueError(f"unknown report version {data['version']!r}")
            return cls(
                results=tuple(RuleResult.from_dict(r) for r in data["results"]),
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                received_at=_time(data["received_at"]),
                validated_at=_time(data["validated_at"]),
                expected_reference=data["expected_reference"],
                inquiry_reference=data["inquiry_reference"],
                signers=tuple(_signer(s) for s in data["signers"]),
                document_timestamps=tuple(_timestamp(t) for t in data["document_timestamps"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stored answer report: {exc!r}") from None

    @classmethod
    def from_json(cls, text: str) -> AnswerReport:
        return cls.from_dict(json.loads(text))


def apply_signer_rule(
    report: AnswerReport,
    *,
    allowed_hsa_ids: Iterable[str],
    allowed_fingerprints: Iterable[str] = (),
) -> AnswerReport:
    """Return report with P4 and P6 decided from the directory's facts.

    allowed_hsa_ids are the REKOs assigned to the inquiry's VC (at signing time, as the
    gateway looks them up); allowed_fingerprints their registered certificates (SHA-256 hex).
    P4 passes when a signer whose certificate passed P3 is one of them; every other signer is
    recorded as a co-signer (P6). Applying it again replaces the earlier P4 and P6.
    """
    hsa_ids = {value.strip().casefold() for value in allowed_hsa_ids if value.strip()}
    fingerprints = {_fingerprint(value) for value in allowed_fingerprints if value.strip()}
    if not report.result("P1").passed:
        return _replace_directory_results(report, report.signers, [
            not_evaluated(code, "Kontrolleras inte eftersom filen inte kunde läsas (P1).")
            for code in DIRECTORY_RULES
        ])
    reko, unsound = _find_reko(report.signers, hsa_ids, fingerprints)
    signers = tuple(
        dataclasses.replace(
            signer, role=SignerRole.REKO if signer is reko else SignerRole.CO_SIGNER
        )
        for signer in report.signers
    )
    return _replace_directory_results(
        report, signers, [_p4(report.signers, reko, unsound), _p6(signers, reko)]
    )


def _replace_directory_results(
    report: AnswerReport, signers: tuple[SignerRecord, ...], new: list[RuleResult]
) -> AnswerReport:
    results = [r for r in report.results if r.code not in DIRECTORY_RULES] + new
    results.sort(key=lambda r: ALL_RULES.index(r.code) if r.code in ALL_RULES else len(ALL_RULES))
    return dataclasses.replace(report, results=tuple(results), signers=signers)


def _find_reko(
    signers: tuple[SignerRecord, ...], hsa_ids: set[str], fingerprints: set[str]
) -> tuple[SignerRecord | None, list[SignerRecord]]:
    """Return the first assigned REKO whose signature is sound and trusted, and the assigned
    REKOs whose signatures are not (named in P4's message)."""
    unsound = []
    for signer in signers:
        if (signer.hsa_id or "").casefold() in hsa_ids or signer.fingerprint in fingerprints:
            if signer.trusted and signer.intact and signer.valid:
                return signer, []
            unsound.append(signer)
    return None, unsound


def _p4(
    signers: tuple[SignerRecord, ...], reko: SignerRecord | None, unsound: list[SignerRecord]
) -> RuleResult:
    if reko is not None:
        return passed(
            "P4",
            f"{_who(reko)} är rehabkoordinator på vårdcentralen och har skrivit under.",
            f"field {reko.field_name}, hsa_id {reko.hsa_id}, sha256 {reko.fingerprint}",
        )
    if unsound:
        return failed(
            "P4",
            f"Underskriften av rehabkoordinatorn {_who(unsound[0])} godtas inte (se P2 och P3).",
            f"assigned signer {unsound[0].field_name} not intact, valid and trusted",
        )
    if not signers:
        return failed("P4", "Filen saknar underskrift av en rehabkoordinator.", "no signers")
    names = ", ".join(_who(s) for s in signers)
    return failed(
        "P4",
        "Ingen av dem som skrivit under är rehabkoordinator på den vårdcentral som förfrågan "
        f"gäller (underskrivet av: {names}).",
        "signers: " + "; ".join(f"{s.hsa_id} sha256 {s.fingerprint}" for s in signers),
    )


def _p6(signers: tuple[SignerRecord, ...], reko: SignerRecord | None) -> RuleResult:
    if reko is None:
        return not_evaluated("P6", "Medundertecknare bedöms när en rehabkoordinator skrivit under.")
    others = [s for s in signers if s.role is SignerRole.CO_SIGNER]
    if not others:
        return passed("P6", "Inga medundertecknare.")
    names = ", ".join(_who(s) for s in others)
    return passed(
        "P6",
        f"Medundertecknat av {names}.",
        "co-signers: " + "; ".join(f"{s.field_name} {s.hsa_id}" for s in others),
    )


def _who(signer: SignerRecord) -> str:
    name = signer.subject_cn or signer.subject
    return f"{name} ({signer.hsa_id})" if signer.hsa_id else name


def _fingerprint(value: str) -> str:
    return value.strip().replace(":", "").lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _time(value: str | None) -> dt.datetime:
    if value is None:
        raise TypeError("a time is missing")
    return dt.datetime.fromisoformat(value)


def _optional_time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _signer(data: Mapping[str, Any]) -> SignerRecord:
    values = dict(data)
    values["signing_time"] = _optional_time(values["signing_time"])
    values["timestamp_time"] = _optional_time(values["timestamp_time"])
    values["role"] = SignerRole(values["role"]) if values["role"] else None
    return SignerRecord(**values)


def _timestamp(data: Mapping[str, Any]) -> DocumentTimestampRecord:
    values = dict(data)
    values["time"] = _optional_time(values["time"])
    return DocumentTimestampRecord(**values)
