"""Lost-credential reports and loan requests in the console: a report from the LINE chat shows up, staff acknowledge
it, send the parent an instruction (it arrives in the chat), resolve it with new links; loans are decided; leaked
meeting details are replaced with new links for everyone."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.events import operations as event_service
from services.reports import operations as report_service
from storage import audit, events, join_links, reports
from storage.db import unit_of_work
from storage.models import Escalation, OutboxMessage, Parent


def file_report(parent_id: int, event_ids: list[int], lost: str = "join_link") -> int:
    """What the report flow's effect does when a parent reports a loss in the chat."""
    with unit_of_work() as s:
        filed = report_service.file_report(
            s,
            s.get(Parent, parent_id),
            report_service.FileReport(
                reference="R-ABC234",
                lost=lost,
                lost_when="today",
                misuse="unsure",
                event_ids=tuple(event_ids),
                note="電車で落としました",
                base_url="https://bot.example.test",
            ),
        )
        return filed.escalation.id


def enrol(parent_id: int, event_id: int) -> int:
    with unit_of_work() as s:
        return event_service.apply(
            s, s.get(Parent, parent_id), events.get(s, event_id), base_url="https://bot.example.test"
        ).enrollment.id


def test_a_report_is_acknowledged_answered_and_resolved_with_new_links(
    console, csrf_token, parent_factory, event_factory
):
    event_id = event_factory(centre="minamihoncho", title="ねんね交流会")
    parent_id = parent_factory(name="船橋 花子")
    enrollment_id = enrol(parent_id, event_id)
    escalation_id = file_report(parent_id, [event_id])
    with unit_of_work() as s:
        assert join_links.live(s, enrollment_id) is None  # the report stopped the link at once
        reference = s.get(Escalation, escalation_id).reference
    client, account = console("staff", "minamihoncho")
    listing = client.get("/staff/escalations").get_data(as_text=True)
    assert reference in listing and "紛失・盗難の報告" in listing
    page = client.get(f"/staff/escalations/{escalation_id}").get_data(as_text=True)
    assert "船橋 花子" in page and "電車で落としました" in page and "ねんね交流会" in page
    token = csrf_token(client, f"/staff/escalations/{escalation_id}")
    client.post(f"/staff/escalations/{escalation_id}/acknowledge", data={"csrf_token": token})
    client.post(
        f"/staff/escalations/{escalation_id}/instruct",
        data={"csrf_token": token, "text": "念のため、LINEのパスワードを変更してください。"},
    )
    missing = client.post(
        f"/staff/escalations/{escalation_id}/resolve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "解決のしかたを選んでください" in missing.get_data(as_text=True)
    client.post(f"/staff/escalations/{escalation_id}/resolve", data={"csrf_token": token, "links": "send"})
    with unit_of_work() as s:
        escalation = s.get(Escalation, escalation_id)
        assert (escalation.status, escalation.outcome, escalation.acknowledged_by) == (
            "resolved",
            "links_sent",
            account.id,
        )
        assert join_links.live(s, enrollment_id) is not None
        sent = json.dumps(
            [m.messages for m in s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "staff_instruction"))],
            ensure_ascii=False,
        )
        assert "LINEのパスワードを変更してください" in sent
        actions = [
            e.action for e in audit.search(s, audit.Filter(subject_type="escalation", subject_id=str(escalation_id)))
        ]
        assert {
            "escalation.view",
            "escalation.acknowledged",
            "escalation.instruction_sent",
            "escalation.resolved",
        } <= set(actions)
    page = client.get(f"/staff/escalations/{escalation_id}").get_data(as_text=True)
    assert "念のため、LINEのパスワードを変更してください。" in page and "対応します" not in page


def test_a_viewer_sees_a_report_but_cannot_act_and_another_centre_cannot_see_it(
    console, csrf_token, parent_factory, event_factory
):
    event_id = event_factory(centre="minamihoncho")
    parent_id = parent_factory()
    enrol(parent_id, event_id)
    escalation_id = file_report(parent_id, [event_id])
    viewer, _ = console("viewer", "minamihoncho")
    page = viewer.get(f"/staff/escalations/{escalation_id}").get_data(as_text=True)
    assert "電車で落としました" in page and "対応します" not in page
    assert (
        viewer.post(
            f"/staff/escalations/{escalation_id}/acknowledge", data={"csrf_token": csrf_token(viewer, "/staff/today")}
        ).status_code
        == 403
    )
    other, _ = console("staff", "takanedai")
    assert other.get(f"/staff/escalations/{escalation_id}").status_code == 404
    assert "R-" not in other.get("/staff/escalations").get_data(as_text=True).split("<tbody>")[1]
    with unit_of_work() as s:
        assert s.get(Escalation, escalation_id).status == "open"


def test_a_loan_request_is_decided_and_the_parent_told(console, csrf_token, parent_factory):
    parent_id = parent_factory()
    with unit_of_work() as s:
        escalation = report_service.request_loan(
            s,
            s.get(Parent, parent_id),
            report_service.RequestLoan(
                reference="L-ABC234",
                equipment=("tablet",),
                event_id=None,
                reason="no_device",
                note="",
                base_url="https://bot.example.test",
            ),
        )
        escalation_id = escalation.id
    client, _ = console("staff", "minamihoncho")
    assert "タブレット" in client.get(f"/staff/escalations/{escalation_id}").get_data(as_text=True)
    token = csrf_token(client, f"/staff/escalations/{escalation_id}")
    client.post(
        f"/staff/escalations/{escalation_id}/loan",
        data={"csrf_token": token, "decision": "approve", "note": "12月1日10時に南本町センターでお渡しします。"},
    )
    with unit_of_work() as s:
        escalation = s.get(Escalation, escalation_id)
        assert (escalation.status, escalation.outcome) == ("resolved", "approved")
        assert reports.loan_of(s, escalation_id).decision_note.startswith("12月1日")
    assert "貸出が決まりました" in client.get("/staff/escalations").get_data(as_text=True)


def test_leaked_meeting_details_are_replaced_and_everyone_gets_a_new_link(
    console, csrf_token, parent_factory, event_factory
):
    event_id = event_factory(centre="minamihoncho")
    first, second = (enrol(parent_factory(phone=f"0905555000{n}"), event_id) for n in (1, 2))
    with unit_of_work() as s:
        old_links = {join_links.live(s, e).id for e in (first, second)}
    client, _ = console("staff", "minamihoncho")
    page = client.get(f"/staff/events/{event_id}?escalation=7").get_data(as_text=True)
    assert "参加URL・パスコードの変更" in page
    token = csrf_token(client, f"/staff/events/{event_id}")
    client.post(
        f"/staff/events/{event_id}/rotate",
        data={
            "csrf_token": token,
            "join_url": "https://zoom.example.test/j/999",
            "passcode": "new-pass-99",
            "confirm": "y",
        },
    )
    with unit_of_work() as s:
        assert events.conference(events.get(s, event_id)).passcode == "new-pass-99"
        new_links = {join_links.live(s, e).id for e in (first, second)}
        assert not new_links & old_links and None not in new_links
        assert audit.count(s, audit.Filter(action_prefix="event.rotate_credentials")) == 1
    assert "new-pass-99" not in client.get(f"/staff/events/{event_id}").get_data(as_text=True)
