"""A SIP meeting as an iCalendar file (RFC 5545) for the REKO's calendar: one VEVENT in UTC with
the invitation's reference and the place or link, and no personal data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from icalendar import Calendar, Event

PRODID = "-//Kryddgården Gateway//SIP-kallelse//SV"


@dataclass(frozen=True)
class CalendarMeeting:
    """What the calendar file says: nothing about the person, only the meeting."""

    invitation_id: str
    reference: str
    starts_at: dt.datetime
    length_minutes: int
    location: str | None


def meeting_ics(meeting: CalendarMeeting, *, domain: str, now: dt.datetime) -> bytes:
    """Return the meeting as a VCALENDAR with one VEVENT whose UID is the invitation's id at
    the gateway's domain (the same meeting downloaded again replaces itself in the calendar)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{meeting.invitation_id}@{domain}")
    event.add("dtstamp", now.astimezone(dt.UTC))
    start = meeting.starts_at.astimezone(dt.UTC)
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=meeting.length_minutes))
    # The reference only: a calendar is shared and synced far beyond the gateway.
    event.add("summary", f"SIP-möte {meeting.reference}")
    if meeting.location:
        event.add("location", meeting.location)
    calendar.add_component(event)
    return calendar.to_ical()
