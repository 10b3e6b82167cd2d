"""Form types: parse and validate form XML into typed objects, consent rules, identifier checks.

A pure library: no Flask, no database, nothing from `gateway`.
"""

from forms.consent import ConsentReport, RuleResult, check_consent, check_consent_at_answer
from forms.errors import FormError, FormIssue
from forms.halsoforfragan import Halsoforfragan, parse_halsoforfragan
from forms.writer import write_halsoforfragan
from forms.xmlsafe import Limits

__all__ = [
    "ConsentReport",
    "FormError",
    "FormIssue",
    "Halsoforfragan",
    "Limits",
    "RuleResult",
    "check_consent",
    "check_consent_at_answer",
    "parse_halsoforfragan",
    "write_halsoforfragan",
]
