"""The SDK API's refusals: DIGG's 400 problem type, and a message's every problem as one
eventIssue each (typeCode, title, detail, `in` = the JSON path, dateTime)."""

from __future__ import annotations

import datetime as dt
import re

from forms.sdk.jsonapi import ATTRIBUTES, json_path
from forms.sdk.message import timestamp_text
from forms.sdk.message_rules import MessageError
from gateway import codes
from gateway.codes import Code
from gateway.errors import GatewayError, Issue
from gateway.inquiries import sdk_messages

SDK_BAD_REQUEST = "urn:problem-type:sdk:badRequest"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def bad_request(code: Code, detail: str, location: str = "") -> GatewayError:
    """Return a 400 in SDK's problem type, with one eventIssue naming where."""
    return GatewayError.at(code, detail, location,
                           extra={"type": SDK_BAD_REQUEST, "code": code.code})


def conflict(code: Code, detail: str) -> GatewayError:
    """Return a 409 about the message's messageId, in SDK's problem type."""
    return GatewayError.at(code, detail, "data.attributes.messageId", status=409,
                           extra={"type": SDK_BAD_REQUEST, "code": code.code})


def message_id_conflict(message_id: str) -> GatewayError:
    """Return the 409 for a messageId that is already another message's (or other content's)."""
    return conflict(codes.MESSAGE_ID_CONFLICT, sdk_messages.message_id_conflict(message_id).detail)


def message_refusal(error: MessageError, now: dt.datetime) -> GatewayError:
    """Return DIGG's 400 naming every problem of the message at its JSON path (an element path
    of the built message is turned into the JSON path of the same value)."""
    report = error.report
    when = timestamp_text(now)
    issues = [Issue(i.code, i.title, i.detail, _json_place(i.path), when) for i in report.issues]
    shown = "; ".join(f"{i.code} ({i.location})" for i in issues[:5])
    more = report.total - min(len(issues), 5)
    detail = f"{report.total} fel i meddelandet: {shown}" + (f"; och {more} till" if more else "")
    return GatewayError.at(codes.SDK_MESSAGE_INVALID, detail, issues=issues,
                           extra={"type": SDK_BAD_REQUEST, "code": codes.SDK_MESSAGE_INVALID.code},
                           issue_count=report.total)


def _json_place(path: str) -> str:
    """Return the JSON path of a problem's place (element paths are turned; the message body
    as a whole is the list of documents)."""
    if not path.startswith("/"):
        return path
    if path.rstrip("/").endswith("/messageBody"):
        return f"{ATTRIBUTES}.digitalDocument"
    return json_path(path)
