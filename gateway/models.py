"""Every domain's models, imported together so the metadata (and Alembic) sees all tables."""

from gateway.audit.models import AuditAnchor, AuditEntry, AuditHead, AuditReadMark
from gateway.auth.models import ApiClient, ApiToken, LoginAttempt, Role, User
from gateway.db import Base
from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    CoordinatorCertificate,
    DirectoryChange,
    FunctionalAddress,
    Organisation,
    SenderKind,
    SenderUnit,
)
from gateway.federation.models import FederationEnvelope
from gateway.inquiries.models import (
    Answer,
    ConsentWithdrawal,
    Inquiry,
    Leg,
    LegKind,
    SdkMessage,
)
from gateway.jobs.models import Job, JobState
from gateway.mail.models import OutboxMail
from gateway.sdkapi.models import SdkDeletion
from gateway.stats.models import HistoryDayCount, HistoryInquiry, HistorySip

__all__ = [
    "Absence", "ApiClient", "ApiToken", "Answer", "Assignment", "AssignmentRole", "AuditAnchor",
    "AuditEntry", "AuditHead", "AuditReadMark", "Base", "CareUnit", "ConsentWithdrawal",
    "Coordinator", "CoordinatorCertificate", "DirectoryChange", "FederationEnvelope",
    "FunctionalAddress", "HistoryDayCount", "HistoryInquiry", "HistorySip", "Inquiry", "Job",
    "JobState", "Leg", "LegKind", "LoginAttempt", "Organisation", "OutboxMail", "Role",
    "SdkDeletion", "SdkMessage", "SenderKind", "SenderUnit", "User",
]
