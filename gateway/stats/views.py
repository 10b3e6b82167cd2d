"""The statistics page (/statistik) and its CSV and XLSX exports, for statisticians only."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue

from gateway.auth.login import role_required
from gateway.auth.models import Role
from gateway.csvexport import csv_download
from gateway.db import get_session
from gateway.inquiries.models import FormType
from gateway.stats import charts, export, sip_export
from gateway.stats.engine import BUCKET_LABELS, BUCKETS, Report, data_years, response_times
from gateway.stats.period import Period, period_from_text
from gateway.stats.shares import LEGEND_TEXT
from gateway.stats.sip import OUTCOME_LABELS, OUTCOMES, SipReport, sip_report
from gateway.stats.sip_export import CANCEL_REASON_LABELS

bp = Blueprint("stats", __name__)

LEG_NAMES = {
    "received": "mottagen",
    "opened": "öppnad",
    "answered": "besvarad",
    "answer_delivered": "svaret levererat",
    "registered": "registrerad",
}


def _reports() -> tuple[Report, list[Report]]:
    """The chosen year's full report, and the years with data side by side (summaries)."""
    period = period_from_text(request.args.get("year") or None, request.args.get("as_of") or None)
    session = get_session()
    years = sorted(set(data_years(session, period.as_of)) | {period.year})
    overview = [
        response_times(session, Period(year, period.as_of), detail=False) for year in years
    ]
    return response_times(session, period), overview


def _filename(report: Report, extension: str) -> str:
    return f"svarstider-{report.period.year}-matning-{report.period.as_of.isoformat()}.{extension}"


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _sip_reports(detail: Report) -> tuple[SipReport, list[SipReport]]:
    """The SIP reports of the same measurement: the chosen year's and each year with SIPs."""
    session = get_session()
    period = detail.period
    years = sorted(set(data_years(session, period.as_of, form_type=FormType.SIP))
                   | {period.year})
    reports = [sip_report(session, Period(year, period.as_of)) for year in years]
    return next(r for r in reports if r.period == period), reports


@bp.get("/statistik")
@role_required(Role.STATISTICIAN)
def index() -> ResponseReturnValue:
    detail, overview = _reports()
    data = detail.to_json()
    sip, sip_overview = _sip_reports(detail)
    return render_template(
        "stats/index.html",
        report=detail,
        data=data,
        overview=overview,
        buckets=BUCKETS,
        labels=BUCKET_LABELS,
        volume_chart=charts.volume_chart(detail),
        shares_chart=charts.shares_chart(overview),
        legend=LEGEND_TEXT,
        leg_names=LEG_NAMES,
        query={"year": detail.period.year, "as_of": detail.period.as_of.isoformat()},
        sip=sip.to_json(),
        sip_overview=sip_overview,
        outcomes=OUTCOMES,
        outcome_labels=OUTCOME_LABELS,
        cancel_reasons=CANCEL_REASON_LABELS,
    )


@bp.get("/statistik/export.csv")
@role_required(Role.STATISTICIAN)
def export_csv() -> ResponseReturnValue:
    detail, overview = _reports()
    return csv_download(_filename(detail, "csv"), export.SWEDISH_COLUMNS,
                        export.swedish_rows(detail, overview))


@bp.get("/statistik/export.xlsx")
@role_required(Role.STATISTICIAN)
def export_xlsx() -> ResponseReturnValue:
    detail, overview = _reports()
    return _download(
        export.to_xlsx(detail, overview),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _filename(detail, "xlsx"),
    )


@bp.get("/statistik/export-sip.csv")
@role_required(Role.STATISTICIAN)
def export_sip_csv() -> ResponseReturnValue:
    period = period_from_text(request.args.get("year") or None, request.args.get("as_of") or None)
    report = sip_report(get_session(), period)
    filename = f"sip-{period.year}-matning-{period.as_of.isoformat()}.csv"
    return csv_download(filename, export.SWEDISH_COLUMNS, sip_export.swedish_rows(report))
