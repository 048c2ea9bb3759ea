"""Events in the staff console: create (once, as a series, as a copy), change, publish, cancel; participants and
the waitlist with approve/decline, attendance, the CSV; sanctions under policy 6 (remove, bar, lift)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import time_machine
from sqlalchemy import select

from services.events import operations as event_service
from storage import audit, enrollments, events, join_links, sanctions
from storage.clock import now, to_tokyo
from storage.db import unit_of_work
from storage.models import AttendanceMark, Event, OutboxMessage, Sanction


def local(moment) -> str:
    return to_tokyo(moment).strftime("%Y-%m-%dT%H:%M")


def event_form(token: str, **changes) -> dict:
    start = now() + timedelta(days=10)
    form = {
        "csrf_token": token,
        "centre": "minamihoncho",
        "kind": "meetup",
        "title": "ねんねの赤ちゃん交流会",
        "description": "0歳のお子さんと保護者の交流会です。",
        "starts_at": local(start),
        "ends_at": local(start + timedelta(hours=1)),
        "capacity": "8",
        "target_min_months": "0",
        "target_max_months": "11",
        "applications_open_at": local(now()),
        "applications_close_at": local(start - timedelta(days=1)),
        "conference_service": "Zoom",
        "join_url": "https://zoom.example.test/j/555",
        "meeting_id": "555 000 111",
        "passcode": "hush-1234",
        "join_opens_minutes": "15",
        "repeat": "none",
        "repeat_count": "1",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def all_events() -> list[Event]:
    with unit_of_work() as s:
        rows = list(s.scalars(select(Event).order_by(Event.starts_at)))
        s.expunge_all()
        return rows


def apply(parent_id: int, event_id: int) -> int:
    """A parent applies, by the same code the LINE chat's 申し込む runs."""
    with unit_of_work() as s:
        from storage.models import Parent

        outcome = event_service.apply(
            s, s.get(Parent, parent_id), events.get(s, event_id), base_url="https://bot.example.test"
        )
        return outcome.enrollment.id


def test_centre_staff_create_an_event_for_their_centre(console, csrf_token):
    client, account = console("staff", "minamihoncho")
    token = csrf_token(client, "/staff/events/new")
    response = client.post("/staff/events/new", data=event_form(token, publish="y"))
    assert response.status_code == 302
    (created,) = all_events()
    assert (created.centre, created.status, created.capacity) == ("minamihoncho", "published", 8)
    assert created.created_by == f"staff:{account.id}"
    assert events.conference(created).passcode == "hush-1234"
    page = client.get(f"/staff/events/{created.id}").get_data(as_text=True)
    assert "ねんねの赤ちゃん交流会" in page and "hush-1234" not in page and "設定済み" in page
    # Another centre cannot be chosen by centre staff.
    refused = client.post("/staff/events/new", data=event_form(token, centre="takanedai"))
    assert refused.status_code == 400 and len(all_events()) == 1


def test_the_form_explains_what_is_wrong(console, csrf_token):
    client, _ = console("admin")
    token = csrf_token(client, "/staff/events/new")
    start = now() + timedelta(days=3)
    response = client.post(
        "/staff/events/new",
        data=event_form(
            token,
            ends_at=local(start - timedelta(hours=1)),
            starts_at=local(start),
            join_url="http://insecure.example",
            target_min_months="12",
            target_max_months="6",
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for message in ("終了は開始より後にしてください", "https:// から始まるURL", "「まで」は「から」以上"):
        assert message in html
    assert all_events() == []


def test_a_weekly_series_and_a_monthly_series(console, csrf_token):
    client, _ = console("admin")
    token = csrf_token(client, "/staff/events/new")
    client.post("/staff/events/new", data=event_form(token, repeat="weekly", repeat_count="4"))
    weekly = all_events()
    assert len(weekly) == 4
    assert {to_tokyo(e.starts_at).strftime("%a %H:%M") for e in weekly} == {
        to_tokyo(weekly[0].starts_at).strftime("%a %H:%M")
    }
    assert [(b.starts_at - a.starts_at).days for a, b in zip(weekly, weekly[1:], strict=False)] == [7, 7, 7]
    assert all(e.applications_close_at == e.starts_at - timedelta(days=1) for e in weekly)
    with unit_of_work() as s:
        assert audit.count(s, audit.Filter(action_prefix="event.create")) == 4


def test_a_monthly_series_refuses_a_day_some_months_lack(console, csrf_token):
    client, _ = console("admin")
    token = csrf_token(client, "/staff/events/new")
    start = to_tokyo(now()).replace(month=1, day=31, hour=10, minute=0) + timedelta(days=0)
    start = start.replace(year=start.year + 1)
    response = client.post(
        "/staff/events/new",
        data=event_form(
            token,
            starts_at=start.strftime("%Y-%m-%dT%H:%M"),
            ends_at=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            applications_close_at=(start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            repeat="monthly",
            repeat_count="3",
        ),
    )
    assert response.status_code == 400 and "その日がない月があります" in response.get_data(as_text=True)
    assert all_events() == []


def test_copying_an_event_keeps_the_passcode_without_showing_it(console, csrf_token, event_factory):
    client, _ = console("staff", "minamihoncho")
    source = event_factory(centre="minamihoncho", title="ことばの相談")
    page = client.get(f"/staff/events/{source}/copy").get_data(as_text=True)
    assert "ことばの相談" in page and "secret-pass" not in page
    token = csrf_token(client, f"/staff/events/{source}/copy")
    start = now() + timedelta(days=20)
    client.post(
        "/staff/events/new",
        data=event_form(
            token,
            title="ことばの相談",
            passcode="",
            copy_of=str(source),
            starts_at=local(start),
            ends_at=local(start + timedelta(hours=1)),
        ),
    )
    copy = [e for e in all_events() if e.id != source][0]
    assert events.conference(copy).passcode == "secret-pass" and copy.status == "draft"


def test_copying_refuses_an_event_of_another_centre(console, event_factory):
    client, _ = console("staff", "takanedai")
    assert client.get(f"/staff/events/{event_factory(centre='minamihoncho')}/copy").status_code == 404


def test_changing_the_time_tells_the_applicants_and_the_passcode_stays_unless_typed(
    console, csrf_token, event_factory, parent_factory
):
    event_id = event_factory(centre="minamihoncho")
    apply(parent_factory(), event_id)
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/events/{event_id}/edit")
    edit_page = client.get(f"/staff/events/{event_id}/edit").get_data(as_text=True)
    assert "secret-pass" not in edit_page
    start = now() + timedelta(days=5)
    response = client.post(
        f"/staff/events/{event_id}/edit",
        data=event_form(
            token,
            title="オンライン交流会（時間変更）",
            starts_at=local(start),
            ends_at=local(start + timedelta(hours=1)),
            passcode="",
            capacity="10",
            applications_close_at=local(start - timedelta(hours=2)),
        ),
    )
    assert response.status_code == 302
    with unit_of_work() as s:
        event = events.get(s, event_id)
        assert event.title == "オンライン交流会（時間変更）" and event.version == 2
        assert events.conference(event).passcode == "secret-pass"
        changed = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "event_changed")).all()
        assert len(changed) == 1
        (update,) = audit.search(s, audit.Filter(action_prefix="event.update"))
        assert "time" in update.details["fields"] and "title" in update.details["fields"]


def test_capacity_cannot_go_below_the_people_already_in(console, csrf_token, event_factory, parent_factory):
    event_id = event_factory(centre="minamihoncho", capacity=3)
    for n in range(2):
        apply(parent_factory(phone=f"0901234000{n}"), event_id)
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/events/{event_id}/edit")
    with unit_of_work() as s:
        e = events.get(s, event_id)
        data = event_form(
            token,
            starts_at=local(e.starts_at),
            ends_at=local(e.ends_at),
            capacity="1",
            applications_open_at=local(e.applications_open_at),
            applications_close_at=local(e.applications_close_at),
        )
    response = client.post(f"/staff/events/{event_id}/edit", data=data)
    assert response.status_code == 400 and "すでに2人" in response.get_data(as_text=True)


def test_more_seats_go_to_the_waitlist_at_once(console, csrf_token, event_factory, parent_factory):
    event_id = event_factory(centre="minamihoncho", capacity=1)
    first, second = parent_factory(phone="09011110001"), parent_factory(phone="09011110002")
    apply(first, event_id)
    waiting = apply(second, event_id)
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/events/{event_id}/edit")
    with unit_of_work() as s:
        e = events.get(s, event_id)
        data = event_form(
            token,
            starts_at=local(e.starts_at),
            ends_at=local(e.ends_at),
            capacity="2",
            applications_open_at=local(e.applications_open_at),
            applications_close_at=local(e.applications_close_at),
            title=e.title,
        )
    client.post(f"/staff/events/{event_id}/edit", data=data)
    with unit_of_work() as s:
        assert enrollments.get(s, waiting).status == "confirmed"


def test_publish_and_cancel(console, csrf_token, event_factory, parent_factory):
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, "/staff/events/new")
    client.post("/staff/events/new", data=event_form(token))
    (draft,) = all_events()
    assert draft.status == "draft"
    client.post(f"/staff/events/{draft.id}/publish", data={"csrf_token": token})
    apply(parent_factory(), draft.id)
    not_confirmed = client.post(f"/staff/events/{draft.id}/cancel", data={"csrf_token": token})
    assert not_confirmed.status_code == 302 and all_events()[0].status == "published"
    client.post(f"/staff/events/{draft.id}/cancel", data={"csrf_token": token, "confirm": "y"})
    with unit_of_work() as s:
        assert events.get(s, draft.id).status == "cancelled"
        assert len(s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "event_cancelled")).all()) == 1
        assert [e.action for e in audit.about(s, "event", draft.id)] == [
            "event.cancel",
            "event.publish",
            "event.create",
        ]


def test_lists_show_only_the_actors_centres(console, event_factory):
    event_factory(centre="minamihoncho", title="南本町の交流会")
    event_factory(centre="takanedai", title="高根台の講座")
    client, _ = console("viewer", "takanedai")
    for path in ("/staff/events", "/staff/today"):
        page = client.get(path).get_data(as_text=True)
        assert "高根台の講座" in page and "南本町の交流会" not in page
    admin, _ = console("admin")
    page = admin.get("/staff/events").get_data(as_text=True)
    assert "高根台の講座" in page and "南本町の交流会" in page


# --- participants ------------------------------------------------------------------------------------------------
def test_participants_with_approval_and_decline(console, csrf_token, event_factory, parent_factory):
    event_id = event_factory(centre="minamihoncho", needs_approval=True)
    yes = apply(parent_factory(name="船橋 一郎", phone="09022220001"), event_id)
    no = apply(parent_factory(name="船橋 二郎", phone="09022220002"), event_id)
    client, _ = console("staff", "minamihoncho")
    page = client.get(f"/staff/events/{event_id}/participants").get_data(as_text=True)
    assert "船橋 一郎" in page and "承認待ち" in page and "090-2222-0001" in page
    with unit_of_work() as s:
        (viewed,) = audit.search(s, audit.Filter(action_prefix="event.participants"))
        assert viewed.subject_id == str(event_id) and viewed.details == {"rows": 2}
    today = client.get("/staff/today").get_data(as_text=True)
    assert "承認待ちの申し込み" in today
    token = csrf_token(client, f"/staff/events/{event_id}/participants")
    client.post(f"/staff/events/{event_id}/enrollments/{yes}/approve", data={"csrf_token": token})
    client.post(f"/staff/events/{event_id}/enrollments/{no}/decline", data={"csrf_token": token})
    with unit_of_work() as s:
        assert enrollments.get(s, yes).status == "confirmed" and enrollments.get(s, no).status == "declined"
        assert enrollments.get(s, yes).decided_by.startswith("staff:")
        purposes = sorted(s.scalars(select(OutboxMessage.purpose)).all())
        assert purposes == ["application_update", "join_link"]
    page = client.get(f"/staff/events/{event_id}/participants").get_data(as_text=True)
    assert "参加用リンク：送信予定" in page and "申し込みのお知らせ：送信予定" in page


def test_an_enrollment_of_another_event_is_not_reachable_through_this_one(
    console, csrf_token, event_factory, parent_factory
):
    mine = event_factory(centre="minamihoncho", needs_approval=True)
    theirs = event_factory(centre="takanedai", needs_approval=True)
    other = apply(parent_factory(centre="takanedai"), theirs)
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/events/{mine}/participants")
    assert (
        client.post(f"/staff/events/{mine}/enrollments/{other}/approve", data={"csrf_token": token}).status_code == 404
    )
    with unit_of_work() as s:
        assert enrollments.get(s, other).status == "pending"


def test_participants_csv_is_utf8_with_bom_and_japanese_headers(console, event_factory, parent_factory):
    event_id = event_factory(centre="minamihoncho", capacity=1)
    apply(parent_factory(name="船橋 花子", phone="09012345678"), event_id)
    apply(parent_factory(name='=HYPERLINK("x")', phone="09012345679"), event_id)
    client, _ = console("viewer", "minamihoncho")
    response = client.get(f"/staff/events/{event_id}/participants.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["番号", "状態", "氏名", "ふりがな", "電話番号", "申込日時", "キャンセル待ち順", "出欠"]
    assert rows[1][1:3] == ["参加確定", "船橋 花子"] and rows[1][4] == "090-1234-5678"
    assert rows[2][1] == "キャンセル待ち" and rows[2][6] == "1"
    assert rows[2][2].startswith("'=")  # no formula runs when the file is opened in Excel
    with unit_of_work() as s:
        assert audit.count(s, audit.Filter(action_prefix="event.export")) == 1


def test_attendance_is_marked_after_the_event_starts(console, csrf_token, event_factory, parent_factory):
    coming = event_factory(centre="minamihoncho", starts_in=timedelta(hours=2))
    early = apply(parent_factory(phone="09033330009"), coming)
    started = event_factory(centre="minamihoncho", starts_in=timedelta(minutes=-20))
    parents = [parent_factory(phone=f"0903333000{n}") for n in (1, 2)]
    with unit_of_work() as s:  # they applied before it began (the window is closed now)
        came, missed = (enrollments.apply(s, events.get(s, started), p).enrollment.id for p in parents)
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/events/{coming}/participants")
    refused = client.post(
        f"/staff/events/{coming}/attendance",
        data={"csrf_token": token, f"attendance-{early}": "present"},
        follow_redirects=True,
    )
    assert "開始後に記録できます" in refused.get_data(as_text=True)
    assert f'name="attendance-{early}"' not in client.get(f"/staff/events/{coming}/participants").get_data(as_text=True)
    assert f'name="attendance-{came}"' in client.get(f"/staff/events/{started}/participants").get_data(as_text=True)
    client.post(
        f"/staff/events/{started}/attendance",
        data={"csrf_token": token, f"attendance-{came}": "present", f"attendance-{missed}": "absent"},
    )
    csv_rows = client.get(f"/staff/events/{started}/participants.csv").data.decode("utf-8-sig")
    with unit_of_work() as s:
        marks = {m.enrollment_id: m.attended for m in s.scalars(select(AttendanceMark))}
    assert marks == {came: True, missed: False}
    assert "出席" in csv_rows and "欠席" in csv_rows
    # Changing one's mind is recorded too; an empty choice clears the mark.
    client.post(f"/staff/events/{started}/attendance", data={"csrf_token": token, f"attendance-{missed}": ""})
    with unit_of_work() as s:
        assert {m.enrollment_id for m in s.scalars(select(AttendanceMark))} == {came}


# --- sanctions (policy 6) ----------------------------------------------------------------------------------------
def test_removing_a_participant_kills_their_link_bars_them_and_tells_them(
    console, csrf_token, event_factory, parent_factory
):
    event_id = event_factory(centre="minamihoncho", capacity=1)
    parent_id = parent_factory()
    enrollment_id = apply(parent_id, event_id)
    waiting_id = apply(parent_factory(), event_id)
    with unit_of_work() as s:
        assert join_links.live(s, enrollment_id) is not None
        assert enrollments.get(s, waiting_id).status == "waitlisted"
    client, _ = console("staff", "minamihoncho")
    form_page = client.get(f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove").get_data(as_text=True)
    assert "6-(4)" in form_page and "SNS" in form_page
    token = csrf_token(client, f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove")
    missing = client.post(f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove", data={"csrf_token": token})
    assert missing.status_code == 400 and "根拠を少なくとも一つ" in missing.get_data(as_text=True)
    until = (to_tokyo(now()) + timedelta(days=90)).date()
    response = client.post(
        f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove",
        data={
            "csrf_token": token,
            "policy_items": ["6-(4)", "6-(8)"],
            "note": "交流会の画面をSNSに投稿（保護者から通報）",
            "bar_future": "y",
            "until": until.isoformat(),
        },
    )
    assert response.status_code == 302
    with unit_of_work() as s:
        assert join_links.live(s, enrollment_id) is None
        assert enrollments.refusal(s, enrollments.get(s, enrollment_id)) == "not_confirmed"
        # The freed seat goes to the first person waiting, who gets a join link at once.
        assert enrollments.get(s, waiting_id).status == "confirmed"
        assert join_links.live(s, waiting_id) is not None
        found = sanctions.history(s, parent_id)
        assert {(x.event_id, x.until) for x in found} == {(event_id, None), (None, until)}
        notice = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "sanction_notice")).one()
        text = notice.messages[0]["text"]
        assert "6-(4)、6-(8)" in text and f"{until.year}年{until.month}月{until.day}日まで" in text
        assert "通報" not in text  # the note stays with the staff
        (entry,) = audit.search(s, audit.Filter(action_prefix="sanction.remove"))
        assert entry.details["items"] == ["6-(4)", "6-(8)"] and "note" not in entry.details
    # The barred parent cannot apply to another event either.
    other = event_factory(centre="minamihoncho", title="別の交流会")
    with unit_of_work() as s:
        from storage.models import Parent

        outcome = event_service.apply(s, s.get(Parent, parent_id), events.get(s, other), base_url="https://x.test")
        assert outcome.refusal == "barred"


def test_barring_from_the_parent_page_and_lifting(console, csrf_token, parent_factory, event_factory):
    parent_id = parent_factory()
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    client.post(f"/staff/parents/{parent_id}/bar", data={"csrf_token": token, "policy_items": ["6-(3)"], "note": ""})
    page = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "参加制限中" in page and "無期限" in page
    with unit_of_work() as s:
        bar = s.scalars(select(Sanction)).one()
        assert bar.event_id is None and bar.until is None and sanctions.bars(s, parent_id).everything
        text = s.scalars(select(OutboxMessage.messages)).one()[0]["text"]
        assert "当面のあいだ" in text
    client.post(f"/staff/sanctions/{bar.id}/lift", data={"csrf_token": token})
    with unit_of_work() as s:
        assert not sanctions.bars(s, parent_id).everything
        actions = [e.action for e in audit.about(s, "parent", parent_id)]
        assert "sanction.bar" in actions and "sanction.lift" in actions


def test_staff_of_another_centre_cannot_remove_or_lift(console, csrf_token, event_factory, parent_factory):
    event_id = event_factory(centre="minamihoncho")
    parent_id = parent_factory(centre="minamihoncho")
    enrollment_id = apply(parent_id, event_id)
    with unit_of_work() as s:
        bar = sanctions.impose(s, parent_id, policy_items=["6-(1)"], created_by="staff:0")
        bar_id = bar.id
    client, _ = console("staff", "takanedai")
    token = csrf_token(client, "/staff/today")
    assert (
        client.post(
            f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove",
            data={"csrf_token": token, "policy_items": ["6-(1)"]},
        ).status_code
        == 404
    )
    assert client.post(f"/staff/sanctions/{bar_id}/lift", data={"csrf_token": token}).status_code == 404
    with unit_of_work() as s:
        assert join_links.live(s, enrollment_id) is not None and s.get(Sanction, bar_id).lifted_at is None


def test_the_event_centre_may_remove_a_parent_registered_with_another_centre(
    console, csrf_token, event_factory, parent_factory
):
    event_id = event_factory(centre="minamihoncho")
    enrollment_id = apply(parent_factory(centre="takanedai"), event_id)
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/events/{event_id}/participants")
    response = client.post(
        f"/staff/events/{event_id}/enrollments/{enrollment_id}/remove",
        data={"csrf_token": token, "policy_items": ["6-(7)"]},
    )
    assert response.status_code == 302
    with unit_of_work() as s:
        assert join_links.live(s, enrollment_id) is None


def test_feedback_shows_as_numbers_on_the_event_and_comments_only_on_the_audited_list(
    console, event_factory, parent_factory
):
    from storage import feedback

    event_id = event_factory(centre="minamihoncho")
    parents = [parent_factory(phone=f"0904444000{n}") for n in (1, 2)]
    for parent_id in parents:
        apply(parent_id, event_id)
    with unit_of_work() as s:
        feedback.record_score(s, parents[0], event_id, 5)
        feedback.record_comment(s, parents[0], event_id, "とても楽しかったです")
        feedback.record_score(s, parents[1], event_id, 4)
    client, _ = console("viewer", "minamihoncho")
    page = client.get(f"/staff/events/{event_id}").get_data(as_text=True)
    assert "回答 2人、平均 4.5" in page and "とても楽しかったです" not in page
    assert "とても楽しかったです" in client.get(f"/staff/events/{event_id}/participants").get_data(as_text=True)


def test_today_shows_open_reports_and_loan_requests_with_their_age(console, parent_factory):
    from storage import reports

    parent_id = parent_factory(centre="minamihoncho")
    start = now()
    with time_machine.travel(start - timedelta(hours=3), tick=False), unit_of_work() as s:
        reports.create_escalation(
            s, kind="lost_credentials", reference="R-ABCDEF", parent_id=parent_id, centre="minamihoncho"
        )
        reports.create_escalation(
            s, kind="equipment_loan", reference="L-GHJKLM", parent_id=parent_id, centre="takanedai"
        )
    client, _ = console("staff", "minamihoncho")
    page = client.get("/staff/today").get_data(as_text=True)
    assert "R-ABCDEF" in page and "3時間" in page and "L-GHJKLM" not in page
    admin, _ = console("admin")
    page = admin.get("/staff/today").get_data(as_text=True)
    assert "R-ABCDEF" in page and "L-GHJKLM" in page and "機器の貸出相談" in page
