"""お知らせを送る (issue 18, part 1): staff send a message to a segment of parents through the outbox, as multicasts,
only to those who consented to the current policy, have not stopped お知らせ and have not blocked the bot — checked
when the audience is resolved and again just before each batch goes — with a second person's approval above the
threshold, quiet hours kept unless an administrator marks it urgent, and a delivery report per message."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

from sqlalchemy import select

from handlers.events.reminders import parse_quiet_hours
from runtime.delivery import Dispatcher
from services import broadcasts as broadcast_notices
from storage import broadcasts, people, users
from storage.broadcasts import Audience
from storage.clock import TOKYO, now
from storage.db import unit_of_work
from storage.models import AuditEvent, Broadcast, LineUser, OutboxMessage, Parent
from tests.scheduler_support import clock, tokyo  # noqa: F401 — the fixture

JAN_2026 = date(2026, 1, 1)


# --- age bands ---------------------------------------------------------------------------------------------------
def test_age_bands_are_counted_from_birth_months_on_the_day_of_sending():
    assert broadcasts.band_of_child(date(2025, 2, 1), date(2026, 1, 31)) == "0"
    assert broadcasts.band_of_child(date(2025, 2, 1), date(2026, 2, 1)) == "1"
    assert broadcasts.band_of_child(date(2023, 1, 1), date(2026, 1, 1)) == "3plus"
    assert broadcasts.band_of_child(date(2026, 3, 1), date(2026, 1, 1)) is None  # not born yet
    assert broadcasts.in_band("pregnant", [], True, date(2026, 1, 1), date(2026, 1, 20))
    assert not broadcasts.in_band("pregnant", [], True, date(2025, 12, 1), date(2026, 1, 20))  # due month is past


def test_the_age_band_is_the_childs_age_in_tokyo_when_the_message_is_released(app, parent_factory, clock):
    clock.to(tokyo(2026, 1, 31, 23, 30))  # 31 January in Tokyo
    parent_id = parent_factory()
    with unit_of_work() as s:
        parent = s.get(Parent, parent_id)
        parent.children[0].birth_month = date(2025, 2, 1)
    with unit_of_work() as s:
        assert [m.parent_id for m in broadcasts.members(s, Audience("age", None, "0"))] == [parent_id]
    clock.to(tokyo(2026, 2, 1, 0, 30))  # 1 February in Tokyo (still 31 January in UTC): one year old
    with unit_of_work() as s:
        assert broadcasts.members(s, Audience("age", None, "0")) == []
        assert [m.parent_id for m in broadcasts.members(s, Audience("age", None, "1"))] == [parent_id]


# --- who is left out ---------------------------------------------------------------------------------------------
def _user_of(parent_id: int) -> tuple[int, str]:
    with unit_of_work() as s:
        user = s.get(LineUser, s.get(Parent, parent_id).line_user_pk)
        return user.id, user.line_user_id


def _segment(parent_factory) -> dict[str, int]:
    """Four parents of 南本町: one who may receive お知らせ, one who stopped them, one who withdrew consent, one who
    blocked the bot."""
    ids = {name: parent_factory(centre="minamihoncho") for name in ("ok", "opted_out", "no_consent", "blocked")}
    withdrawing, blocking = _user_of(ids["no_consent"])[0], _user_of(ids["blocked"])[0]
    with unit_of_work() as s:
        broadcasts.set_opted_out(s, ids["opted_out"], True)
        people.record_consent(s, withdrawing, people.current_policy(s), "withdrawn")
        s.get(LineUser, blocking).status = "blocked"
    return ids


def test_only_parents_who_consented_and_did_not_stop_notices_or_block_the_bot_are_counted(app, parent_factory):
    _segment(parent_factory)
    parent_factory(centre="takanedai")
    with unit_of_work() as s:
        counted = broadcasts.count(s, Audience("centre", "minamihoncho"))
    assert (counted.total, counted.eligible) == (4, 1)
    assert counted.excluded == {"opted_out": 1, "no_consent": 1, "blocked": 1}


# --- through the console -----------------------------------------------------------------------------------------
def _compose(client, csrf_token, **fields):
    token = csrf_token(client, "/staff/broadcasts/new")
    data = {
        "csrf_token": token,
        "text": "台風のため、明日のオンライン交流会はお休みです。",
        "audience": "centre",
        "centre": "minamihoncho",
        "age_band": "0",
        "event": "",
        "card_event": "",
        "image_url": "",
        "timing": "now",
        **fields,
    }
    return client.post("/staff/broadcasts/new", data=data)


def test_staff_see_the_count_and_the_preview_then_send_and_read_the_delivery_report(
    app, console, csrf_token, parent_factory, runtime, line
):
    ids = _segment(parent_factory)
    client, _ = console("staff", "minamihoncho")
    page = _compose(client, csrf_token, preview="y").get_data(as_text=True)
    assert "<strong>1人</strong>に送ります（対象 4人）" in page
    assert "お知らせを停止中のため送らない方：1人" in page
    assert "台風のため" in page and 'class="line-preview"' in page
    sent = _compose(client, csrf_token, send="y")
    assert sent.status_code == 302
    runtime.drain()
    ok_user = _user_of(ids["ok"])[1]
    [call] = line.requests(r"/v2/bot/message/multicast$")
    assert call["json"]["to"] == [ok_user] and call["retry_key"]
    assert "お知らせの停止" in str(call["json"]["messages"][-1]["quickReply"])
    report = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="report-sent">1<', report) and re.search(r'id="report-excluded-blocked">1<', report)


def test_the_notice_page_names_the_staff_member_who_wrote_it(app, console, csrf_token, parent_factory):
    parent_factory()
    client, account = console("staff", "minamihoncho")
    sent = _compose(client, csrf_token, send="y")
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "（職員 staff minamihoncho）" in page and f"（職員 {account.id}）" not in page


def test_a_parent_who_stops_notices_after_the_release_is_left_out_when_the_batch_is_sent(
    app, parent_factory, runtime, line
):
    first, second = parent_factory(), parent_factory()
    with unit_of_work() as s:
        broadcast = _broadcast(s, Audience("centre", "minamihoncho"))
        assert broadcast_notices.release(s, broadcast, threshold=100) == 2
        broadcast_id = broadcast.id
    with unit_of_work() as s:
        broadcasts.set_opted_out(s, second, True)
    runtime.drain()
    [call] = line.requests(r"/v2/bot/message/multicast$")
    assert call["json"]["to"] == [_user_of(first)[1]]
    with unit_of_work() as s:
        report = broadcasts.report(s, s.get(Broadcast, broadcast_id))
    assert (report.planned, report.sent, report.excluded) == (2, 1, {"opted_out": 1})


def _broadcast(s, audience: Audience, **kw) -> Broadcast:
    values = dict(
        text="お知らせです",
        card_event_id=None,
        image_url=None,
        urgent=False,
        send_at=now(),
        author_id=None,
        estimated=0,
        needs_approval=False,
    )
    values.update(kw)
    return broadcasts.create(s, audience=audience, **values)


def test_more_than_the_threshold_needs_a_second_staff_members_approval(
    app, console, csrf_token, parent_factory, runtime, line
):
    runtime.config = runtime.config.with_(broadcast_approval_threshold=1)
    parent_factory(), parent_factory()
    author, account = console("staff", "minamihoncho")
    created = _compose(author, csrf_token, send="y")
    detail = created.headers["Location"]
    broadcast_id = int(detail.rsplit("/", 1)[1])
    with unit_of_work() as s:
        assert s.get(Broadcast, broadcast_id).status == "awaiting_approval"
    token = csrf_token(author, detail)
    author.post(f"{detail}/approve", data={"csrf_token": token})
    with unit_of_work() as s:
        assert s.get(Broadcast, broadcast_id).status == "awaiting_approval"  # not by its own author
    runtime.drain()
    assert line.requests(r"/v2/bot/message/multicast$") == []
    colleague, _ = console("staff", "minamihoncho")
    colleague.post(f"{detail}/approve", data={"csrf_token": csrf_token(colleague, detail)})
    runtime.drain()
    [call] = line.requests(r"/v2/bot/message/multicast$")
    assert len(call["json"]["to"]) == 2
    with unit_of_work() as s:
        actions = [a.action for a in s.scalars(select(AuditEvent).where(AuditEvent.subject_type == "broadcast"))]
        details = [a.details for a in s.scalars(select(AuditEvent).where(AuditEvent.subject_type == "broadcast"))]
    assert actions == ["broadcast.create", "broadcast.approve", "broadcast.send"]
    assert "台風" not in str(details)  # the trail keeps the segment and counts, never the text


def test_centre_staff_name_only_their_centres_parents_and_events(app, console, csrf_token, event_factory):
    other_event = event_factory(centre="takanedai")
    client, _ = console("staff", "minamihoncho")
    form = client.get("/staff/broadcasts/new").get_data(as_text=True)
    assert 'value="everyone"' not in form and 'value="takanedai"' not in form
    refused = _compose(client, csrf_token, audience="participants", event=str(other_event), send="y")
    assert refused.status_code == 200 and 'id="broadcast-count"' not in refused.get_data(as_text=True)
    with unit_of_work() as s:
        assert s.scalars(select(Broadcast)).all() == []
        division_wide = _broadcast(s, Audience("everyone")).id
        theirs = _broadcast(s, Audience("centre", "takanedai")).id
    assert client.get(f"/staff/broadcasts/{division_wide}").status_code == 404
    assert client.get(f"/staff/broadcasts/{theirs}").status_code == 404


# --- quiet hours, schedules, cancelling ------------------------------------------------------------------------------
def test_quiet_hours_hold_a_notice_unless_an_administrator_marked_it_urgent(app, parent_factory, runtime, line, clock):
    clock.to(tokyo(2030, 6, 4, 23, 0))
    parent_factory()
    dispatcher = Dispatcher(runtime.gateway, quiet=parse_quiet_hours("21:00-08:00"))
    with unit_of_work() as s:
        broadcast_notices.release(s, _broadcast(s, Audience("centre", "minamihoncho")), 100)
        broadcast_notices.release(s, _broadcast(s, Audience("centre", "minamihoncho"), urgent=True), 100)
    dispatcher.deliver()
    with unit_of_work() as s:
        rows = {r.purpose: r.status for r in s.scalars(select(OutboxMessage))}
    assert rows == {"broadcast": "planned", "broadcast_urgent": "sent"}
    clock.to(tokyo(2030, 6, 5, 8, 0))
    dispatcher.deliver()
    assert len(line.requests(r"/v2/bot/message/multicast$")) == 2


def test_the_urgent_box_is_only_for_administrators(app, console):
    staff_client, _ = console("staff", "minamihoncho")
    admin_client, _ = console("admin", "division")
    assert 'name="urgent"' not in staff_client.get("/staff/broadcasts/new").get_data(as_text=True)
    assert 'name="urgent"' in admin_client.get("/staff/broadcasts/new").get_data(as_text=True)


def test_a_scheduled_notice_goes_at_its_time_and_a_cancelled_one_never(app, parent_factory, runtime, line, clock):
    from scheduler.worker import Worker

    parent_factory()
    clock.to(tokyo(2030, 6, 4, 9, 0))
    with unit_of_work() as s:
        later = _broadcast(s, Audience("centre", "minamihoncho"), send_at=tokyo(2030, 6, 4, 15, 0)).id
        cancelled = _broadcast(s, Audience("centre", "minamihoncho"), send_at=tokyo(2030, 6, 4, 15, 0))
        assert broadcasts.cancel(s, cancelled, staff_id=None) is None
    worker = Worker(runtime)
    try:
        assert worker.release_broadcasts() == 0
        clock.to(tokyo(2030, 6, 4, 15, 0))
        assert worker.release_broadcasts() == 1
        worker.deliver_due()
    finally:
        worker.close()
    with unit_of_work() as s:
        assert s.get(Broadcast, later).status == "released"
        assert {r.subject for r in s.scalars(select(OutboxMessage))} == {f"broadcast:{later}"}
    assert len(line.requests(r"/v2/bot/message/multicast$")) == 1


def test_cancelling_a_released_notice_held_by_quiet_hours_stops_it(app, parent_factory, runtime, line, clock):
    clock.to(tokyo(2030, 6, 4, 23, 0))
    parent_factory()
    with unit_of_work() as s:
        broadcast = _broadcast(s, Audience("centre", "minamihoncho"))
        broadcast_notices.release(s, broadcast, 100)
        assert broadcasts.cancel(s, broadcast, staff_id=None) is None
        broadcast_id = broadcast.id
    clock.to(tokyo(2030, 6, 5, 9, 0))
    Dispatcher(runtime.gateway, quiet=parse_quiet_hours("21:00-08:00")).deliver()
    assert line.requests(r"/v2/bot/message/multicast$") == []
    with unit_of_work() as s:
        report = broadcasts.report(s, s.get(Broadcast, broadcast_id))
    assert (report.sent, report.stopped) == (0, 1)


def test_ten_thousand_parents_go_in_twenty_multicasts_of_at_most_500(app):
    with unit_of_work() as s:
        policy = people.current_policy(s)
        for n in range(1001):
            user = users.get_or_create(s, "U" + f"{n:032x}")
            parent = people.save_parent(
                s,
                user.id,
                name="x",
                furigana="x",
                phone="0",
                is_guardian=True,
                is_pregnant=False,
                due_month=None,
                centre="takanedai",
                children=[JAN_2026],
            )
            people.record_consent(s, user.id, policy, "agreed")
        assert parent is not None
        broadcast_notices.release(s, _broadcast(s, Audience("centre", "takanedai")), 5000)
        sizes = sorted(len(r.recipients) for r in s.scalars(select(OutboxMessage)))
    assert sizes == [1, 500, 500]


# --- LINE's own numbers ------------------------------------------------------------------------------------------
def test_lines_count_of_the_days_multicasts_is_read_through_the_gateway(app, runtime, line):
    assert runtime.gateway.multicast_count(date.today() + timedelta(days=1)) == ("unready", None)
    with line.lock:
        line.journal.append(
            {
                "ts": time.time() - 2 * 86400,
                "method": "POST",
                "path": "/v2/bot/message/multicast",
                "status": 200,
                "json": {"to": ["U" + "0" * 32] * 25, "messages": [{}]},
            }
        )
    day = datetime.fromtimestamp(time.time() - 2 * 86400, TOKYO).date()
    assert runtime.gateway.multicast_count(day) == ("ready", 25)


# --- the parent's side: 「お知らせの停止」 / 「お知らせを受け取る」 -----------------------------------------------------
def test_a_parent_stops_notices_in_the_chat_and_takes_them_again(app, chat, parent_factory):
    person = chat()
    parent_id = parent_factory(line_user_id=person.user_id)
    asked = person.say("お知らせの停止")
    assert "いまは、センターや支援課からのお知らせ" in person.texts(asked) and "受け取っています" in person.texts(asked)
    done = person.choose(asked, "お知らせの停止")
    assert "お知らせを止めました" in person.texts(done)
    with unit_of_work() as s:
        assert broadcasts.opted_out(s, parent_id)
    again = person.choose(person.say("お知らせを受け取る"), "お知らせを受け取る")
    assert "受け取る設定にしました" in person.texts(again)
    with unit_of_work() as s:
        assert not broadcasts.opted_out(s, parent_id)


def test_after_stopping_notices_one_tap_takes_them_again(app, chat, parent_factory):
    """The reply to 「お知らせの停止」 carries the way back, so nobody stays stopped for want of a second step."""
    person = chat()
    parent_id = parent_factory(line_user_id=person.user_id)
    stopped = person.choose(person.say("お知らせの停止"), "お知らせの停止")
    assert "下の「お知らせを受け取る」を押してください" in person.texts(stopped)
    assert "受け取る設定にしました" in person.texts(person.choose(stopped, "お知らせを受け取る"))
    with unit_of_work() as s:
        assert not broadcasts.opted_out(s, parent_id)


def test_the_stop_button_under_a_notice_stops_them_at_once_and_the_next_one_does_not_come(
    app, chat, parent_factory, runtime, line
):
    person = chat()
    parent_factory(line_user_id=person.user_id)
    with unit_of_work() as s:
        broadcast_notices.release(s, _broadcast(s, Audience("centre", "minamihoncho")), 100)
    runtime.drain()
    notice = person.new_messages()
    assert "お知らせです" in person.texts(notice)
    assert "お知らせを止めました" in person.texts(person.choose(notice, "お知らせの停止"))
    with unit_of_work() as s:
        broadcast_notices.release(s, _broadcast(s, Audience("centre", "minamihoncho")), 100)
    runtime.drain()
    assert person.new_messages() == []
    assert len(line.requests(r"/v2/bot/message/multicast$")) == 1
