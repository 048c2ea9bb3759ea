"""``kosodate events``: staff commands for events until the staff console has them — add, import a CSV, list,
publish, move to a new time, cancel, and see which join links were opened on many devices.

Changes go through services/events/operations.py, so parents are told exactly as they would be from the console.
Nothing here prints a join URL, meeting ID or passcode.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from handlers.events import views
from handlers.events.drafts import COLUMNS, parse_draft, parse_moment, unknown_columns
from handlers.texts import Catalog
from services.events import operations as event_service
from storage import events as event_rows
from storage import join_links
from storage.clock import now
from storage.db import unit_of_work

events = AppGroup("events", help="イベント（交流会・相談・講座）の管理 / Events (meetups, consultations, classes).")

SAY = Catalog(
    {
        "ja": {
            "added": "イベント {id} を作成しました（{state}）。",
            "draft": "下書き。公開するには kosodate events publish {id}",
            "published": "公開しました。お知らせの送信先：{n}人",
            "imported": "{n}件のイベントを取り込みました（{state}）。",
            "state.draft": "下書き",
            "state.published": "公開",
            "row_errors": "{line}行目：{errors}",
            "nothing_saved": "エラーがあるため、何も取り込んでいません。直してから、もう一度実行してください。",
            "empty": "取り込むイベントがありません。",
            "unreadable": "CSVを読めませんでした（UTF-8 か Shift_JIS で保存してください）。",
            "not_found": "イベント {id} は見つかりません。",
            "confirm_cancel": "「{title}」（{when}）を中止して、申し込んだ {n} 人にお知らせします。よろしいですか？",
            "cancelled": "中止しました。お知らせ：{n}件",
            "already": "変更はありません（すでに {status} です）。",
            "moved": "日時を変更しました。お知らせ：{n}件",
            "unchanged": "日時は変わっていません。",
            "bad_time": "日時は 2026-12-01 10:00 の形で、終了を開始より後にしてください。",
            "cannot_move": "中止・終了したイベントの日時は変えられません。",
            "none": "イベントはありません。",
            "header": "ID  状態  開始  センター  種類  参加/定員  承認待ち  キャンセル待ち  タイトル",
            "links.none": "参加用ページはまだ開かれていません。",
            "links.header": "申込ID  開いた回数  端末数  参加方法を見た端末数  最後に開いた日時",
            "links.many": "  ← 多くの端末で開かれています（リンクの共有の可能性）",
        },
        "en": {
            "added": "Event {id} created ({state}).",
            "draft": "draft. To publish: kosodate events publish {id}",
            "published": "Published. Announcement goes to {n} parent(s).",
            "imported": "{n} event(s) imported ({state}).",
            "state.draft": "draft",
            "state.published": "published",
            "row_errors": "line {line}: {errors}",
            "nothing_saved": "Nothing was imported because of the errors above. Please fix them and run again.",
            "empty": "There are no events in the file.",
            "unreadable": "Could not read the CSV (save it as UTF-8 or Shift_JIS).",
            "not_found": "There is no event {id}.",
            "confirm_cancel": "Cancel “{title}” ({when}) and tell the {n} parent(s) who applied?",
            "cancelled": "Cancelled. Notices: {n}",
            "already": "Nothing changed (the event is {status}).",
            "moved": "Time changed. Notices: {n}",
            "unchanged": "The time is the same as before.",
            "bad_time": "Give times like 2026-12-01 10:00, with the end after the start.",
            "cannot_move": "A cancelled or finished event cannot be moved.",
            "none": "There are no events.",
            "header": "ID  status  start  centre  kind  taken/capacity  pending  waitlist  title",
            "links.none": "No join page has been opened yet.",
            "links.header": "enrollment  openings  devices  devices shown details  last opened",
            "links.many": "  <- opened on many devices (the link may have been shared)",
        },
    }
)
LANG = click.option(
    "--lang",
    type=click.Choice(["ja", "en"]),
    default="ja",
    show_default=True,
    help="表示の言語 / language of the output",
)


def _base_url() -> str:
    return current_app.extensions["kosodate"].config.public_base_url


def _state(lang: str, published: bool) -> str:
    return SAY.t(lang, "state.published" if published else "state.draft")


def _create(session, draft, *, publish: bool, by: str) -> tuple[int, int]:
    event = event_rows.create(session, **draft.fields(), created_by=by)
    announced = event_service.publish(session, event) if publish else 0
    return event.id, announced


@events.command("add")
@click.option("--centre", required=True, help="division / minamihoncho / takanedai（または日本語名）")
@click.option("--kind", required=True, help="meetup / consultation / class（交流会／相談／講座）")
@click.option("--title", required=True)
@click.option("--description", default="")
@click.option("--start", required=True, help="開始 (Asia/Tokyo) 例: 2026-12-01 10:00")
@click.option("--end", required=True, help="終了 (Asia/Tokyo)")
@click.option("--capacity", required=True)
@click.option("--opens", default="", help="受付開始（省略時：いま）")
@click.option("--closes", default="", help="受付終了（省略時：開始時刻）")
@click.option("--approval/--no-approval", default=False, help="スタッフの承認が必要か")
@click.option("--ages", default="", help="対象月齢 例: 0-11、12-、-23（省略時：制限なし）")
@click.option("--pregnant/--not-pregnant", default=False, help="妊娠中の方が対象か")
@click.option("--service", default="Zoom", show_default=True, help="WEB会議サービスの名前")
@click.option("--join-url", required=True)
@click.option("--meeting-id", required=True)
@click.option(
    "--passcode", prompt="パスコード / passcode", hide_input=True, help="省略するとたずねます（画面に出しません）"
)
@click.option("--publish/--draft", default=False, help="すぐ公開してお知らせを送るか（既定：下書き）")
@click.option("--by", default="cli", show_default=True, help="作成したスタッフの名前")
@LANG
def add(lang: str, publish: bool, by: str, approval: bool, pregnant: bool, **options: str) -> None:
    """イベントを1件作成します / Create one event."""
    values = {name: options[name] for name in COLUMNS if name in options}
    values |= {"approval": "yes" if approval else "no", "pregnant": "yes" if pregnant else "no"}
    draft, errors = parse_draft(values, moment=now(), lang=lang)
    if draft is None:
        raise click.ClickException("\n".join(errors))
    with unit_of_work() as session:
        event_id, announced = _create(session, draft, publish=publish, by=by)
    click.echo(SAY.t(lang, "added", id=event_id, state=_state(lang, publish)))
    click.echo(SAY.t(lang, "published", n=announced) if publish else SAY.t(lang, "draft", id=event_id))


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return list(csv.DictReader(io.StringIO(raw.decode(encoding), newline="")))
        except (UnicodeDecodeError, csv.Error):
            continue
    return None


@events.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publish/--draft", default=False, help="取り込んだイベントをすぐ公開するか（既定：下書き）")
@click.option("--by", default="cli", show_default=True)
@LANG
def import_csv(file: Path, publish: bool, by: str, lang: str) -> None:
    """CSVからまとめて作成します（1行目は見出し。1件でもエラーがあれば何も取り込みません）/ Create events from a CSV."""
    rows = _read_csv(file)
    if rows is None:
        raise click.ClickException(SAY.t(lang, "unreadable"))
    if not rows:
        raise click.ClickException(SAY.t(lang, "empty"))
    problems = unknown_columns(lang, [c for c in rows[0].keys() if c])
    moment = now()
    drafts = []
    for line, row in enumerate(rows, start=2):
        draft, errors = parse_draft({k: v for k, v in row.items() if k}, moment=moment, lang=lang)
        if errors:
            problems.append(SAY.t(lang, "row_errors", line=line, errors=" / ".join(errors)))
        drafts.append(draft)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(SAY.t(lang, "nothing_saved"))
    with unit_of_work() as session:
        for draft in drafts:
            _create(session, draft, publish=publish, by=by)
    click.echo(SAY.t(lang, "imported", n=len(drafts), state=_state(lang, publish)))


@events.command("list")
@click.option("--all", "everything", is_flag=True, help="終わったイベントも表示")
@LANG
def list_events(everything: bool, lang: str) -> None:
    """イベントの一覧 / List events."""
    with unit_of_work() as session:
        found = event_rows.listing(session, include_past=everything)
        counts = event_rows.status_counts(session, [e.id for e in found])
        lines = [
            f"{e.id}  {e.status}  {views.moment_text(lang, e.starts_at)}  {views.centre_short(lang, e.centre)}  "
            f"{views.kind(lang, e.kind)}  {counts[e.id]['confirmed']}/{e.capacity}  {counts[e.id]['pending']}  "
            f"{counts[e.id]['waitlisted']}  {e.title}"
            for e in found
        ]
    click.echo("\n".join([SAY.t(lang, "header"), *lines]) if lines else SAY.t(lang, "none"))


@events.command("publish")
@click.argument("event_id", type=int)
@LANG
def publish_event(event_id: int, lang: str) -> None:
    """下書きを公開し、希望した方にお知らせします / Publish a draft and announce it."""
    with unit_of_work() as session:
        event = event_rows.get(session, event_id)
        if event is None:
            raise click.ClickException(SAY.t(lang, "not_found", id=event_id))
        if event.status != "draft":
            click.echo(SAY.t(lang, "already", status=event.status))
            return
        announced = event_service.publish(session, event)
    click.echo(SAY.t(lang, "published", n=announced))


@events.command("reschedule")
@click.argument("event_id", type=int)
@click.option("--start", required=True, help="新しい開始 (Asia/Tokyo) 例: 2026-12-01 10:00")
@click.option("--end", required=True, help="新しい終了 (Asia/Tokyo)")
@LANG
def reschedule_event(event_id: int, start: str, end: str, lang: str) -> None:
    """日時を変更し、申し込んだ方にお知らせします / Move an event and tell everyone who applied."""
    starts_at, ends_at = parse_moment(start), parse_moment(end)
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        raise click.ClickException(SAY.t(lang, "bad_time"))
    with unit_of_work() as session:
        event = event_rows.get(session, event_id)
        if event is None:
            raise click.ClickException(SAY.t(lang, "not_found", id=event_id))
        if event.status in ("cancelled", "finished"):
            raise click.ClickException(SAY.t(lang, "cannot_move"))
        if (event.starts_at, event.ends_at) == (starts_at, ends_at):
            click.echo(SAY.t(lang, "unchanged"))
            return
        told = event_service.reschedule(session, event, starts_at, ends_at)
    click.echo(SAY.t(lang, "moved", n=told))


@events.command("cancel")
@click.argument("event_id", type=int)
@click.option("--yes", is_flag=True, help="確認せずに中止する")
@LANG
def cancel_event(event_id: int, yes: bool, lang: str) -> None:
    """イベントを中止し、申し込んだ方にお知らせします / Cancel an event and tell everyone who applied."""
    with unit_of_work() as session:
        event = event_rows.get(session, event_id)
        if event is None:
            raise click.ClickException(SAY.t(lang, "not_found", id=event_id))
        if event.status in ("cancelled", "finished"):
            click.echo(SAY.t(lang, "already", status=event.status))
            return
        affected = len(event_rows.affected_enrollments(session, event.id))
        question = SAY.t(
            lang, "confirm_cancel", title=event.title, n=affected, when=views.when(lang, event.starts_at, event.ends_at)
        )
        if not yes and not click.confirm(question):
            raise click.Abort()
        told = event_service.cancel_event(session, event)
    click.echo(SAY.t(lang, "cancelled", n=told))


@events.command("links")
@click.argument("event_id", type=int)
@LANG
def link_usage(event_id: int, lang: str) -> None:
    """参加用ページが開かれた回数と端末数（多くの端末で開かれたリンクに印）/ How join links were opened."""
    with unit_of_work() as session:
        if event_rows.get(session, event_id) is None:
            raise click.ClickException(SAY.t(lang, "not_found", id=event_id))
        uses = join_links.usage(session, event_id)
    if not uses:
        click.echo(SAY.t(lang, "links.none"))
        return
    click.echo(SAY.t(lang, "links.header"))
    for use in uses:
        last = views.moment_text(lang, use.last_opened_at) if use.last_opened_at else "-"
        mark = SAY.t(lang, "links.many") if use.many_devices else ""
        click.echo(f"{use.enrollment_id}  {use.openings}  {use.devices}  {use.devices_shown}  {last}{mark}")
