"""Staff side of events: ``kosodate events`` (add, import, list, publish, reschedule, cancel, links), parents told once
per change, announcements to those who asked (quiet hours, 500 per multicast), secrets sealed at rest."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from bot.cli_events import events as events_cli
from bot.config import ConfigError, from_environ
from bot.demo.seed import seed_events
from services.events import notices as event_notices
from services.events import operations as event_service
from storage import events as event_rows
from storage import join_links
from storage.clock import TOKYO, now
from storage.db import unit_of_work
from storage.models import AnnouncementOptIn, Event, LineUser
from storage.models.events import CENTRES
from tests.events_support import CONFERENCE, leaks, make_event, make_parent, planned
from tests.test_joinlink import csrf

pytestmark = pytest.mark.usefixtures("app")  # a migrated database, emptied after each test

BASE = "https://bot.example.test"
HEADER = "センター,種類,タイトル,説明,開始,終了,定員,対象月齢,承認,妊娠中,サービス,参加URL,ミーティングID,パスコード"


def future(days: int, hour: int) -> str:
    day = (now().astimezone(TOKYO) + timedelta(days=days)).date()
    return f"{day.isoformat()} {hour:02d}:00"


def csv_row(title: str, start_days: int = 5, capacity: str = "10") -> str:
    return (
        f"南本町,交流会,{title},説明,{future(start_days, 10)},{future(start_days, 11)},{capacity},0-11,いいえ,いいえ,"
        f"Zoom,{CONFERENCE['join_url']},{CONFERENCE['meeting_id']},{CONFERENCE['passcode']}"
    )


def test_add_creates_a_sealed_draft_and_publish_makes_it_visible(runner):
    result = runner.invoke(
        events_cli,
        args=[
            "add",
            "--centre",
            "高根台",
            "--kind",
            "講座",
            "--title",
            "手あそび講座",
            "--start",
            future(3, 10),
            "--end",
            future(3, 11),
            "--capacity",
            "12",
            "--ages",
            "12-35",
            "--join-url",
            CONFERENCE["join_url"],
            "--meeting-id",
            CONFERENCE["meeting_id"],
        ],
        input=CONFERENCE["passcode"] + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "下書き" in result.output and leaks(result.output) == []
    with unit_of_work() as session:
        event = session.scalars(select(Event)).one()
        assert (event.status, event.centre, event.target_min_months) == ("draft", "takanedai", 12)
        raw = session.execute(text("SELECT join_url_sealed, meeting_id_sealed, passcode_sealed FROM events")).one()
        assert leaks(" ".join(raw)) == []
        assert event_rows.conference(event).passcode == CONFERENCE["passcode"]
    published = runner.invoke(events_cli, args=["publish", str(event.id)])
    assert published.exit_code == 0 and "公開しました" in published.output
    listing = runner.invoke(events_cli, args=["list"])
    assert "手あそび講座" in listing.output and "published" in listing.output and leaks(listing.output) == []


def test_import_takes_every_row_or_none(runner, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("\n".join([HEADER, csv_row("一つ目"), csv_row("二つ目", 6)]) + "\n", encoding="utf-8-sig")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "\n".join([HEADER, csv_row("三つ目"), csv_row("四つ目", capacity="たくさん"), csv_row("五つ目", start_days=-2)])
        + "\n",
        encoding="cp932",
    )
    result = runner.invoke(events_cli, args=["import", str(bad)])
    assert result.exit_code != 0
    assert "3行目" in result.output and "定員は" in result.output
    assert "4行目" in result.output and "開始がすでに過ぎています" in result.output
    assert "何も取り込んでいません" in result.output
    with unit_of_work() as session:
        assert session.scalars(select(Event)).all() == []
    result = runner.invoke(events_cli, args=["import", str(good), "--publish"])
    assert result.exit_code == 0, result.output
    with unit_of_work() as session:
        assert sorted(session.scalars(select(Event.title))) == ["一つ目", "二つ目"]
        assert set(session.scalars(select(Event.status))) == {"published"}


def test_import_names_an_unknown_column(runner, tmp_path):
    file = tmp_path / "odd.csv"
    file.write_text(HEADER + ",メモ\n" + csv_row("一つ目") + ",x\n", encoding="utf-8")
    result = runner.invoke(events_cli, args=["import", str(file)])
    assert result.exit_code != 0 and "「メモ」という列はわかりません" in result.output


def test_a_new_time_and_a_cancellation_are_each_told_once_to_everyone_affected(runner):
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        parents = [make_parent(session) for _ in range(2)]
        for parent in parents:
            event_service.apply(session, parent, event, base_url=BASE)
        event_id = event.id
    args = ["reschedule", str(event_id), "--start", future(9, 13), "--end", future(9, 14)]
    assert "お知らせ：2件" in runner.invoke(events_cli, args=args).output
    assert "変わっていません" in runner.invoke(events_cli, args=args).output
    with unit_of_work() as session:
        changed = planned(session, "event_changed")
        assert len(changed) == 2 and {r.dedupe_key.split(":")[2] for r in changed} == {"v2"}
        assert "13:00〜14:00" in str(changed[0].messages)
        assert event_service.cancel_event(session, session.get(Event, event_id)) == 2
        assert event_service.cancel_event(session, session.get(Event, event_id)) == 0
        cancelled = planned(session, "event_cancelled")
        assert len(cancelled) == 2 and all(":v3:" in r.dedupe_key for r in cancelled)
        assert leaks(str([r.messages for r in planned(session)])) == []
    assert "すでに cancelled" in runner.invoke(events_cli, args=["cancel", str(event_id), "--yes"]).output


def test_planning_the_same_change_twice_sends_it_once():
    with unit_of_work() as session:
        event = make_event(session)
        parent = make_parent(session)
        event_service.apply(session, parent, event, base_url=BASE)
        old = (event.starts_at, event.ends_at)
        hour = timedelta(hours=1)
        event_service.reschedule(session, event, event.starts_at + hour, event.ends_at + hour)
        again = event_notices.plan_changed(session, event, event_rows.affected_enrollments(session, event.id), *old)
        assert again == 0
        assert len(planned(session, "event_changed")) == 1


def _opted_in(session, centre: str, **options):
    parent = make_parent(session, **options)
    session.add(AnnouncementOptIn(parent_id=parent.id, centre=centre, created_at=now()))
    return parent


def test_publishing_announces_to_parents_who_asked_and_whose_children_fit():
    with unit_of_work() as session:
        fits_ja = _opted_in(session, "minamihoncho", child_months=(3,))
        fits_en = _opted_in(session, "minamihoncho", child_months=(5,), lang="en")
        _opted_in(session, "minamihoncho", child_months=(30,))  # too old
        _opted_in(session, "takanedai", child_months=(3,))  # another centre
        make_parent(session, child_months=(3,))  # did not ask
        event = make_event(session, ages=(0, 11), publish=False)
        with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=TOKYO), tick=False):
            assert event_service.publish(session, event) == 2
            assert event_service.publish(session, event) == 0
        rows = planned(session, "event_announcement")
        assert sorted((r.recipients, r.not_before) for r in rows) == sorted(
            [([_line_id(session, fits_en)], None), ([_line_id(session, fits_ja)], None)]
        )
        assert "A new event" in str(rows[0].messages) or "A new event" in str(rows[1].messages)


def _line_id(session, parent) -> str:
    return session.get(LineUser, parent.line_user_pk).line_user_id


def test_an_announcement_published_at_night_waits_until_eight_and_goes_500_at_a_time():
    with unit_of_work() as session:
        for _ in range(501):
            _opted_in(session, "division", child_months=())
        event = make_event(session, centre="division", publish=False, starts_in=timedelta(days=10))
        with time_machine.travel(datetime(2026, 11, 25, 22, 30, tzinfo=TOKYO), tick=False):
            assert event_service.publish(session, event) == 501
        rows = planned(session, "event_announcement")
        assert sorted(len(r.recipients) for r in rows) == [1, 500]
        assert {r.not_before for r in rows} == {datetime(2026, 11, 26, 8, 0, tzinfo=TOKYO)}


@time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=TOKYO), tick=False)
def test_an_announcement_is_not_sent_once_the_event_is_cancelled(runtime, line):
    with unit_of_work() as session:
        _opted_in(session, "minamihoncho")
        kept = make_event(session, publish=False, title="予定どおりの交流会")
        dropped = make_event(session, publish=False, title="中止になった交流会")
        event_service.publish(session, kept)
        event_service.publish(session, dropped)
        event_service.cancel_event(session, dropped)
    runtime.deliver_outbox()
    sent = line.requests("/multicast")
    assert len(sent) == 1 and "予定どおりの交流会" in str(sent[0]["json"])
    with unit_of_work() as session:
        assert sorted(r.status for r in planned(session, "event_announcement")) == ["expired", "sent"]


def test_links_shows_staff_which_link_was_opened_on_many_devices(runner, client):
    with unit_of_work() as session:
        event = make_event(session, starts_in=timedelta(minutes=5), closes_before=timedelta(0))
        parent = make_parent(session)
        enrollment = event_service.apply(session, parent, event, base_url=BASE).enrollment
        token = join_links.token_of(join_links.live(session, enrollment.id))
        event_id = event.id
    for agent in ("iPhone Safari", "Android Chrome", "Windows Edge"):
        client.get(f"/j/{token}", headers={"User-Agent": agent})
    result = runner.invoke(events_cli, args=["links", str(event_id)])
    assert "多くの端末で開かれています" not in result.output  # opened, but no details shown yet
    for agent in ("iPhone Safari", "Android Chrome", "Windows Edge"):
        page = client.get(f"/j/{token}", headers={"User-Agent": agent})
        client.post(f"/j/{token}", headers={"User-Agent": agent}, data={"csrf_token": csrf(page.text)})
    result = runner.invoke(events_cli, args=["links", str(event_id)])
    assert "多くの端末で開かれています" in result.output and token not in result.output


def test_production_refuses_to_start_without_a_data_key():
    env = {
        "APP_MODE": "production",
        "LINE_CHANNEL_SECRET": "0123456789abcdef" * 2,
        "LINE_CHANNEL_ACCESS_TOKEN": "t",
        "SECRET_KEY": "f1e2d3c4b5a69788" * 4,
    }
    with pytest.raises(ConfigError, match="DATA_ENCRYPTION_KEY"):
        from_environ(env)
    development = from_environ({"APP_MODE": "test", "SECRET_KEY": "same"})
    again = from_environ({"APP_MODE": "test", "SECRET_KEY": "same"})
    other = from_environ({"APP_MODE": "test", "SECRET_KEY": "other"})
    assert development.data_encryption_key == again.data_encryption_key != other.data_encryption_key


def test_the_demo_seed_has_events_at_every_centre_and_one_about_to_start(client):
    with unit_of_work() as session:
        seeded = [session.get(Event, event_id) for event_id in seed_events(session, now())]
        assert {e.centre for e in seeded} == set(CENTRES) and {e.status for e in seeded} == {"published"}
        (soon,) = [e for e in seeded if e.starts_at - now() <= timedelta(minutes=20)]
        parent = make_parent(session, child_months=(6,))
        enrollment = event_service.apply(session, parent, soon, base_url=BASE).enrollment
        token = join_links.token_of(join_links.live(session, enrollment.id))
    page = client.get(f"/j/{token}")
    revealed = client.post(f"/j/{token}", data={"csrf_token": csrf(page.text)})
    assert "812 3456 7890" in revealed.text  # the demo's example.com meeting, shown at once


def test_the_scheduler_queries_follow_a_new_time():
    with unit_of_work() as session:
        event = make_event(session, capacity=1)
        seated, waiting = make_parent(session), make_parent(session)
        for parent in (seated, waiting):
            event_service.apply(session, parent, event, base_url=BASE)
        old_start = event.starts_at
        event_service.reschedule(session, event, old_start + timedelta(days=1), event.ends_at + timedelta(days=1))
        assert event_rows.event_start(session, event.id) == old_start + timedelta(days=1)
        assert event_rows.starting_between(session, old_start, old_start + timedelta(hours=1)) == []
        assert event_rows.starting_between(session, old_start + timedelta(days=1), old_start + timedelta(days=2)) == [
            event
        ]
        assert [e.parent_id for e in event_rows.confirmed_enrollments(session, event.id)] == [seated.id]
