"""統計 (事業報告): the programme's figures per month or fiscal year and centre, as tables, charts, CSV and Excel.

The figures come from ``storage.statistics`` (monthly snapshots once personal data may be purged). Each table is
defined once here (``tables``) and rendered three ways: the page, CSV (one table) and Excel (every table, a sheet
each). In the files, counts from 1 to 4 are written 「5未満」 (small-number suppression), so no parent can be
recognised from a report that leaves the office.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Response, abort, current_app, render_template, request
from openpyxl import Workbook
from openpyxl.styles import Font

from bot.staff import auth, bp, charts, labels
from bot.staff.downloads import csv_response
from handlers.reports import texts as report_texts
from storage import audit, people, statistics
from storage.clock import today_tokyo
from storage.db import unit_of_work
from storage.models.events import KINDS
from storage.models.reports import ESCALATION_KINDS
from storage.models.staff import CENTRES

SUPPRESS_BELOW = 5
SUPPRESSED = "5未満"
ALL = "all"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]
    counts_from: int = 1  # columns from this one on hold counts (suppressed in files); earlier ones are labels
    rates: tuple[int, ...] = ()  # columns holding rates or minutes, never suppressed


@dataclass(frozen=True)
class Period:
    key: str  # "2026-11" or "FY2026"
    label: str
    months: list[date]


# The years a period may name: a year 1 or 9999 would only reach the edges of Python's calendar (an error page).
YEARS = range(2000, 2101)


def period_from(raw: str | None) -> Period:
    today = today_tokyo()
    raw = (raw or "").strip()
    if match := re.fullmatch(r"FY(\d{4})", raw):
        year = int(match[1])
        if year not in YEARS:
            abort(404)
    elif match := re.fullmatch(r"(\d{4})-(\d{2})", raw):
        first = date(int(match[1]), int(match[2]), 1) if 1 <= int(match[2]) <= 12 and int(match[1]) in YEARS else None
        if first is None:
            abort(404)
        return Period(raw, f"{first.year}年{first.month}月", [first])
    elif not raw:
        year = statistics.fiscal_year_of(today)
    else:
        abort(404)
    return Period(f"FY{year}", f"{year}年度（{year}年4月〜{year + 1}年3月）", statistics.fiscal_year_months(year))


def centres_for(raw: str | None) -> tuple[str, list[str]]:
    """The centre asked for, within the actor's scope (404 outside it, as for any record)."""
    actor = auth.current()
    if not raw:
        raw = ALL if actor.all_centres else actor.centre
    if raw == ALL:
        if not actor.all_centres:
            abort(404)
        return ALL, list(CENTRES)
    if raw not in CENTRES:
        abort(404)
    auth.in_scope(raw)
    return raw, [raw]


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "―"


def _minutes(value: float | None) -> str:
    return "―" if value is None else f"{value:.0f}"


def tables(monthly: dict[date, dict[str, Any]], consent: statistics.Consent) -> list[Table]:
    total = statistics.merge(monthly.values())
    kind_rows = []
    for kind in (*KINDS, None):
        n = {
            name: sum(total[name].values()) if kind is None else total[name][kind]
            for name in ("events", "cancelled", *statistics.ENROLLMENT_COUNTS)
        }
        kind_rows.append(
            [
                labels.KIND_LABELS[kind] if kind else "合計",
                n["events"],
                n["cancelled"],
                n["applications"],
                n["confirmed"],
                n["waitlisted"],
                n["withdrawn"],
                n["attended"],
                n["no_shows"],
                n["opened"],
                _rate(n["attended"], n["attended"] + n["no_shows"]),
            ]
        )
    month_rows = [
        [
            f"{first.year}年{first.month}月",
            sum(f["events"].values()),
            sum(f["applications"].values()),
            sum(f["confirmed"].values()),
            sum(f["attended"].values()),
            f["registrations"]["guardian"],
            f["registrations"]["pregnant"],
            sum(f["reports"].values()),
        ]
        for first, f in monthly.items()
    ]
    report_rows = []
    for kind in ESCALATION_KINDS:
        ack, done = total["ack_minutes"][kind], total["resolve_minutes"][kind]
        report_rows.append(
            [
                report_texts.label("ja", "kind", kind),
                total["reports"][kind],
                _minutes(statistics.quantile(ack, 0.5)),
                _minutes(statistics.quantile(ack, 0.9)),
                _minutes(statistics.quantile(done, 0.5)),
                _minutes(statistics.quantile(done, 0.9)),
            ]
        )
    scores = total["scores"]
    answered = sum(scores.values())
    mean = sum(int(s) * n for s, n in scores.items()) / answered if answered else None
    score_rows = [
        [f"{s}（{'とても不満' if s == '1' else 'とても満足' if s == '5' else ''}）".replace("（）", ""), scores[s]]
        for s in sorted(scores)
    ]
    score_rows.append(["平均", "―" if mean is None else f"{mean:.2f}"])
    return [
        Table(
            "events",
            "イベント（種類別）",
            [
                "種類",
                "開催",
                "中止",
                "申込",
                "参加確定",
                "キャンセル待ち",
                "取り消し",
                "出席",
                "欠席",
                "参加ページを開いた人（出席の下限）",
                "出席率",
            ],
            kind_rows,
            rates=(10,),
        ),
        Table(
            "months",
            "月別の推移",
            ["月", "開催", "申込", "参加確定", "出席", "新規登録（保護者）", "新規登録（妊娠中）", "報告・相談"],
            month_rows,
        ),
        Table(
            "registrations",
            "新規登録",
            ["区分", "人数"],
            [
                ["小学校入学前のお子さんの保護者", total["registrations"]["guardian"]],
                ["妊娠中の方", total["registrations"]["pregnant"]],
            ],
        ),
        Table(
            "consent",
            "現在のポリシーへの同意（集計時点）",
            ["友だち登録中の登録者", "現在のポリシーに同意", "同意率"],
            [[consent.registered, consent.consented, _rate(consent.consented, consent.registered)]],
            counts_from=0,
            rates=(2,),
        ),
        Table(
            "reports",
            "報告・貸出相談（種類別）",
            [
                "種類",
                "件数",
                "対応開始まで 中央値（分）",
                "対応開始まで 90%（分）",
                "解決まで 中央値（分）",
                "解決まで 90%（分）",
            ],
            report_rows,
            rates=(2, 3, 4, 5),
        ),
        Table("satisfaction", "満足度（アンケート）", ["評価", "件数"], score_rows),
    ]


def charts_for(monthly: dict[date, dict[str, Any]]) -> list:
    total = statistics.merge(monthly.values())
    rate_bars = []
    for kind in KINDS:
        marked = total["attended"][kind] + total["no_shows"][kind]
        rate_bars.append(
            charts.Bar(labels.KIND_LABELS[kind], 100 * total["attended"][kind] / marked if marked else None)
        )
    ack = [
        charts.Bar(
            f"{m.month}月", statistics.quantile([v for values in f["ack_minutes"].values() for v in values], 0.5)
        )
        for m, f in monthly.items()
    ]
    titles = ("月別の参加確定者数", "種類別の出席率", "報告・相談の対応開始までの時間（中央値）")
    drawn = (
        charts.bar_chart(
            titles[0], [charts.Bar(f"{m.month}月", sum(f["confirmed"].values())) for m, f in monthly.items()], "人"
        ),
        charts.bar_chart(titles[1], rate_bars, "%", top=100),
        charts.bar_chart(titles[2], ack, "分"),
    )
    return list(zip(titles, drawn, strict=True))


def _load(period: Period, centres: list[str]):
    with unit_of_work() as s:
        monthly = statistics.figures_for(
            s, period.months, centres, current_app.extensions["kosodate"].config.retention_days
        )
        policy = people.current_policy(s)
        consent = statistics.consent_now(s, centres, policy.id if policy else None)
    return monthly, consent


@bp.get("/statistics")
@auth.requires("statistics.read")
def statistics_page():
    period = period_from(request.args.get("period"))
    centre, centres = centres_for(request.args.get("centre"))
    monthly, consent = _load(period, centres)
    today = today_tokyo()
    fiscal = statistics.fiscal_year_of(today)
    choices = [(f"FY{y}", f"{y}年度") for y in range(fiscal, fiscal - 5, -1)]
    first = statistics.month_start(today)
    for _ in range(24):
        choices.append((f"{first:%Y-%m}", f"{first.year}年{first.month}月"))
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return render_template(
        "staff/statistics.html",
        period=period,
        centre=centre,
        tables=tables(monthly, consent),
        charts=charts_for(monthly),
        period_choices=choices,
        centre_choices=([(ALL, "すべて")] if auth.current().all_centres else [])
        + [(c, labels.CENTRE_LABELS[c]) for c in CENTRES if auth.current().sees(c)],
    )


def suppressed(table: Table) -> list[list[Any]]:
    """The rows as they may leave the office: counts 1-4 become 「5未満」."""
    out = []
    for row in table.rows:
        out.append(
            [
                SUPPRESSED
                if i >= table.counts_from and i not in table.rates and isinstance(v, int) and 0 < v < SUPPRESS_BELOW
                else v
                for i, v in enumerate(row)
            ]
        )
    return out


def _exported(kind: str, period: Period, centre: str) -> None:
    with unit_of_work() as s:
        audit.record(
            s,
            action="statistics.export",
            actor=auth.current(),
            details={"format": kind, "period": period.key, "centre": centre},
        )


@bp.get("/statistics/<table>.csv")
@auth.requires("statistics.read")
def statistics_csv(table: str):
    period = period_from(request.args.get("period"))
    centre, centres = centres_for(request.args.get("centre"))
    found = next((t for t in tables(*_load(period, centres)) if t.key == table), None)
    if found is None:
        abort(404)
    _exported("csv", period, centre)
    return csv_response(f"statistics-{found.key}-{period.key}-{centre}.csv", found.header, suppressed(found))


@bp.get("/statistics.xlsx")
@auth.requires("statistics.read")
def statistics_xlsx():
    period = period_from(request.args.get("period"))
    centre, centres = centres_for(request.args.get("centre"))
    book = Workbook()
    book.remove(book.active)
    heading = f"{period.label} {'全センター' if centre == ALL else labels.CENTRE_LABELS[centre]}"
    for table in tables(*_load(period, centres)):
        sheet = book.create_sheet(table.title[:31])
        sheet.append([f"{table.title}　{heading}"])
        sheet["A1"].font = Font(bold=True)
        sheet.append(table.header)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in suppressed(table):
            sheet.append(row)
        sheet.append([])
        sheet.append([f"1〜4の件数は「{SUPPRESSED}」と表示しています（個人が特定されないように）。"])
        for column in sheet.columns:
            sheet.column_dimensions[column[0].column_letter].width = 16
    out = io.BytesIO()
    book.save(out)
    _exported("xlsx", period, centre)
    response = Response(out.getvalue(), mimetype=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="statistics-{period.key}-{centre}.xlsx"'
    return response
