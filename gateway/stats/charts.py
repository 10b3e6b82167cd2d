"""Server-rendered SVG charts (no script): monthly volume and bucket shares per year.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` that says in words what it
shows; the page also has the same figures as tables. Colours are presentation attributes (the
CSP allows no inline style) and have at least 3:1 contrast against white, as WCAG asks of
graphics.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from gateway.stats.engine import BUCKET_LABELS, BUCKETS, Report

COLOURS = {
    "1-39": "#1b6b3a",
    "40-59": "#8a5a00",
    "60+": "#a4000f",
    "closed_ok": "#4b4b8f",
    "ongoing": "#5f5f5f",
}
BAR = "#00548c"
INK = "#1a1a1a"


def _svg(ident: str, width: int, height: int, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text part is escaped


def _text(x: float, y: float, value: str, anchor: str = "middle", fill: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="12" '
        f'font-family="system-ui, sans-serif" fill="{fill}">{escape(value)}</text>'
    )


def volume_chart(report: Report) -> Markup:
    """Bars of inquiries sent per month of the report's year, up to the measurement date."""
    rows = report.month_rows()
    year = report.period.year
    title = f"Antal skickade förfrågningar per månad {year}"
    desc = "; ".join(f"{row['name']}: {row['total']}" for row in rows) or "Inga förfrågningar."
    width, height, left, bottom, top = 640, 240, 36, 36, 16
    highest = max([row["total"] for row in rows] + [1])
    slot = (width - left - 8) / 12
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 8}" y2="{height - bottom}" '
        f'stroke="{INK}" stroke-width="1"/>'
    ]
    for index, row in enumerate(rows):
        bar = (height - bottom - top) * row["total"] / highest
        x = left + index * slot + slot * 0.15
        y = height - bottom - bar
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
            f'fill="{BAR}"/>'
        )
        centre = x + slot * 0.35
        body.append(_text(centre, y - 4, str(row["total"])))
        body.append(_text(centre, height - bottom + 16, row["name"][:3]))
    return _svg(f"volume-{year}", width, height, title, desc, body)


def shares_chart(reports: Sequence[Report]) -> Markup:
    """One 100 % bar per year, split by bucket, with a legend."""
    title = "Andel förfrågningar per svarstid och år"
    parts = []
    for report in reports:
        shares = report.percents()
        listed = ", ".join(f"{BUCKET_LABELS[b]} {shares[b]} %" for b in BUCKETS)
        parts.append(f"{report.period.year}: {listed}")
    desc = "; ".join(parts) + "."
    width, left, right, row_height = 640, 48, 8, 30
    height = 24 + len(reports) * row_height + 48
    body = []
    for index, report in enumerate(reports):
        y = 16 + index * row_height
        body.append(_text(left - 6, y + 16, str(report.period.year), anchor="end"))
        body += _stacked_bar(report.percents(), left, y, width - left - right)
    body += _legend(16 + len(reports) * row_height + 12, left)
    return _svg("shares", width, height, title, desc, body)


def _stacked_bar(shares: dict[str, int], left: float, y: float, span: float) -> list[str]:
    body, x = [], left
    for bucket in BUCKETS:
        part = span * shares[bucket] / 100
        if part <= 0:
            continue
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{part:.1f}" height="22" '
            f'fill="{COLOURS[bucket]}" stroke="#ffffff" stroke-width="1"/>'
        )
        if shares[bucket] >= 6:
            body.append(_text(x + part / 2, y + 15, f"{shares[bucket]} %", fill="#ffffff"))
        x += part
    return body


def _legend(y: float, left: float) -> list[str]:
    body, x = [], left
    for bucket in BUCKETS:
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" '
                    f'fill="{COLOURS[bucket]}"/>')
        label = BUCKET_LABELS[bucket]
        body.append(_text(x + 16, y + 11, label, anchor="start"))
        x += 22 + 7 * len(label)
    return body
