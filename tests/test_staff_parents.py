"""Parents in the staff console, and the data-rights actions of the APPI: search, the whole record, export
everything held (JSON, CSV), correct a field, suspend use, erase — each one audited action. Also the policy page
(consent statistics, a new version) and the audit log."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from sqlalchemy import select

from storage import audit, events, feedback, people, sanctions, staff_policy
from storage.db import inbox_unit_of_work, unit_of_work
from storage.models import AuditEvent, InboxEvent, JoinLink, LineUser, OutboxMessage, Parent
from storage.models.audit import AuditTrailIsAppendOnly


def search(client, csrf_token, text: str) -> str:
    token = csrf_token(client, "/staff/parents")
    return client.post("/staff/parents/search", data={"csrf_token": token, "q": text}).get_data(as_text=True)


def trail(subject_id: int) -> list[str]:
    with unit_of_work() as s:
        return [e.action for e in audit.about(s, "parent", subject_id)]


def test_search_by_name_reading_or_phone_within_the_centre(console, csrf_token, parent_factory):
    parent_factory(name="船橋 花子", furigana="ふなばし はなこ", phone="09012345678", centre="minamihoncho")
    parent_factory(name="高根 次郎", furigana="たかね じろう", phone="0474001234", centre="takanedai")
    client, _ = console("viewer", "minamihoncho")
    assert "船橋 花子" in search(client, csrf_token, "フナバシ")  # katakana finds the hiragana reading
    assert "船橋 花子" in search(client, csrf_token, "090-1234")
    assert "船橋 花子" in search(client, csrf_token, "０９０１２３")  # full-width digits
    assert "高根 次郎" not in search(client, csrf_token, "たかね")  # another centre's parent
    admin, _ = console("admin")
    assert "高根 次郎" in search(admin, csrf_token, "たかね")
    assert "見つかりませんでした" in search(admin, csrf_token, "%")  # LIKE wildcards are plain text


def test_viewing_a_parent_shows_the_whole_record_and_is_audited(console, parent_factory, event_factory):
    parent_id = parent_factory(name="船橋 花子", centre="minamihoncho")
    event_id = event_factory(centre="minamihoncho", title="ねんね交流会")
    with unit_of_work() as s:
        from storage import enrollments

        enrollments.apply(s, events.get(s, event_id), parent_id)
        sanctions.impose(s, parent_id, policy_items=["6-(6)"], created_by="staff:1", note="記録用メモ")
    client, account = console("staff", "minamihoncho")
    page = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    for shown in ("船橋 花子", "090-1234-5678", "同意", "（現行）", "ねんね交流会", "参加確定", "6-(6)", "記録用メモ"):
        assert shown in page, shown
    with unit_of_work() as s:
        (viewed,) = audit.search(s, audit.Filter(action_prefix="parent.view"))
        assert (viewed.actor_staff_id, viewed.subject_id) == (account.id, str(parent_id))


def test_correcting_a_field_records_which_fields_not_the_values(console, csrf_token, parent_factory):
    parent_id = parent_factory(name="船橋 花子", phone="09012345678")
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/parents/{parent_id}/correct")
    data = {
        "csrf_token": token,
        "name": "船橋 華子",
        "furigana": "フナバシ ハナコ",
        "phone": "090-9999-8888",
        "centre": "minamihoncho",
        "is_guardian": "y",
    }
    bad = client.post(f"/staff/parents/{parent_id}/correct", data={**data, "phone": "12345"})
    assert bad.status_code == 200 and "電話番号の形式が正しくありません" in bad.get_data(as_text=True)
    assert client.post(f"/staff/parents/{parent_id}/correct", data=data).status_code == 302
    with unit_of_work() as s:
        parent = s.get(Parent, parent_id)
        assert (parent.name, parent.furigana, parent.phone) == ("船橋 華子", "ふなばし はなこ", "09099998888")
        (entry,) = audit.search(s, audit.Filter(action_prefix="parent.correct"))
        assert entry.details == {"fields": ["name", "phone"]}
        assert "09099998888" not in json.dumps(entry.details, ensure_ascii=False)


def test_suspending_use_withdraws_consent_and_drops_unsent_messages(console, csrf_token, parent_factory, event_factory):
    parent_id = parent_factory()
    event_id = event_factory(centre="minamihoncho")
    with unit_of_work() as s:
        from services.events import operations as event_service

        event_service.apply(s, s.get(Parent, parent_id), events.get(s, event_id), base_url="https://x.test")
    client, _ = console("staff", "minamihoncho")
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    client.post(f"/staff/parents/{parent_id}/suspend", data={"csrf_token": token, "confirm": "y"})
    with unit_of_work() as s:
        parent = s.get(Parent, parent_id)
        assert not people.has_current_consent(s, parent.line_user_pk)
        assert people.latest_consent(s, parent.line_user_pk).channel == "staff"
        assert {m.status for m in s.scalars(select(OutboxMessage))} == {"expired"}
    assert "利用停止中" in client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "parent.suspend" in trail(parent_id)


def test_exporting_everything_held_as_json_and_csv(console, parent_factory, event_factory, csrf_token):
    parent_id = parent_factory(name="船橋 花子", phone="09012345678")
    event_id = event_factory(centre="minamihoncho", title="ねんね交流会")
    with unit_of_work() as s:
        from services.events import operations as event_service

        event_service.apply(s, s.get(Parent, parent_id), events.get(s, event_id), base_url="https://x.test")
        from storage.models import BroadcastOptOut

        s.add(BroadcastOptOut(parent_id=parent_id))
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    assert client.get(f"/staff/parents/{parent_id}/export.json").status_code == 405  # a deliberate POST only
    response = client.post(f"/staff/parents/{parent_id}/export.json", data={"csrf_token": token})
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="parent-{parent_id}-')
    data = json.loads(response.data)
    assert data["parent"]["name"] == "船橋 花子" and data["parent"]["phone"] == "09012345678"
    assert data["line_account"]["line_user_id"].startswith("U")
    assert data["consents"][0]["answer"] == "agreed" and len(data["consents"][0]["policy_version"]) == 12
    assert data["applications"][0]["event_title"] == "ねんね交流会"
    assert data["messages"][0]["purpose"] == "join_link"
    assert len(data["notice_optouts"]) == 1 and data["notice_optouts"][0]["since"]
    assert "secret-pass" not in response.get_data(as_text=True)
    response = client.post(f"/staff/parents/{parent_id}/export.csv", data={"csrf_token": token})
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["区分", "番号", "項目", "値"]
    assert ["登録情報", "1", "name", "船橋 花子"] in rows and ["申し込み", "1", "event_title", "ねんね交流会"] in rows
    assert trail(parent_id).count("parent.export") == 2


def test_erasing_removes_what_identifies_the_parent_and_keeps_the_statistics(
    console, csrf_token, parent_factory, event_factory, chat
):
    person = chat()
    person.follow()  # leaves an inbox event and messages with the LINE user id
    parent_id = parent_factory(name="船橋 花子", line_user_id=person.user_id)
    event_id = event_factory(centre="minamihoncho")
    with unit_of_work() as s:
        from services.events import operations as event_service

        outcome = event_service.apply(s, s.get(Parent, parent_id), events.get(s, event_id), base_url="https://x.t")
        sanctions.impose(s, parent_id, policy_items=["6-(3)"], created_by="staff:1", note="氏名入りのメモ")
        enrollment_id = outcome.enrollment.id
        feedback.record_score(s, parent_id, event_id, 4)
        feedback.record_comment(s, parent_id, event_id, "花子です。楽しかった")
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    unconfirmed = client.post(f"/staff/parents/{parent_id}/erase", data={"csrf_token": token})
    assert unconfirmed.status_code == 302 and trail(parent_id).count("parent.erase") == 0
    client.post(f"/staff/parents/{parent_id}/erase", data={"csrf_token": token, "confirm": "y"})
    with unit_of_work() as s:
        parent = s.get(Parent, parent_id)
        user = s.get(LineUser, parent.line_user_pk)
        assert (parent.name, parent.furigana, parent.phone) == ("", "", "")
        assert user.line_user_id != person.user_id and user.status == "erased"
        assert not s.scalars(select(OutboxMessage).where(OutboxMessage.line_user_id == person.user_id)).all()
        assert s.scalars(select(JoinLink).where(JoinLink.enrollment_id == enrollment_id)).one().revoked_at
        assert sanctions.history(s, parent_id)[0].note == ""
        assert feedback.summary(s, event_id).comments == [] and feedback.summary(s, event_id).mean == 4
        # What counts stays: the registration's centre and children, the application, the consent history.
        assert parent.centre == "minamihoncho" and len(parent.children) == 1
        from storage import enrollments

        assert enrollments.get(s, enrollment_id).status == "confirmed"
        assert staff_policy.registered_parents(s) == 0
    with inbox_unit_of_work() as s:
        assert not s.scalars(select(InboxEvent).where(InboxEvent.source_key == person.user_id)).all()
    page = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "削除済み" in page and "船橋 花子" not in page and "保有データを出力" not in page
    assert client.post(f"/staff/parents/{parent_id}/export.json", data={"csrf_token": token}).status_code == 404
    assert "見つかりませんでした" in search(client, csrf_token, "船橋")
    assert trail(parent_id)[1] == "parent.erase"


def test_only_administrators_export_or_erase(console, csrf_token, parent_factory):
    parent_id = parent_factory(centre="minamihoncho")
    client, _ = console("staff", "minamihoncho")
    page = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "保有データを出力" not in page and "利用を停止する" in page
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    for action in ("export.json", "export.csv", "erase"):
        assert (
            client.post(f"/staff/parents/{parent_id}/{action}", data={"csrf_token": token, "confirm": "y"}).status_code
            == 403
        )


def test_no_personal_data_in_the_logs(console, csrf_token, parent_factory, caplog):
    parent_id = parent_factory(name="船橋 花子", phone="09012345678")
    client, _ = console("admin")
    with caplog.at_level(logging.DEBUG):
        search(client, csrf_token, "ふなばし")
        client.get(f"/staff/parents/{parent_id}")
        client.post(f"/staff/parents/{parent_id}/export.json", data={"csrf_token": csrf_token(client)})
    logged = caplog.text
    assert "船橋" not in logged and "09012345678" not in logged and "ふなばし" not in logged


# --- policy ------------------------------------------------------------------------------------------------------
def test_the_policy_page_counts_consents_and_a_new_version_asks_everyone_again(console, csrf_token, parent_factory):
    agreed = parent_factory(phone="09000000001")
    parent_factory(phone="09000000002")
    viewer, _ = console("viewer", "takanedai")
    page = viewer.get("/staff/policy").get_data(as_text=True)
    assert "現行の版に同意済み</dt><dd>2人" in page and "新しい版を公開する" not in page
    admin, _ = console("admin")
    token = csrf_token(admin, "/staff/policy")
    with unit_of_work() as s:
        old = people.current_policy(s)
        old_text = old.text
    same = admin.post("/staff/policy/publish", data={"csrf_token": token, "text": old_text, "confirm": "y"})
    assert same.status_code == 400 and "いまの版と同じ本文です" in same.get_data(as_text=True)
    new_text = old_text + "\n\n10. 附則\n\nこのポリシーは令和8年4月1日から施行する。"
    unconfirmed = admin.post("/staff/policy/publish", data={"csrf_token": token, "text": new_text})
    assert unconfirmed.status_code == 400
    assert (
        admin.post("/staff/policy/publish", data={"csrf_token": token, "text": new_text, "confirm": "y"}).status_code
        == 302
    )
    with unit_of_work() as s:
        current = people.current_policy(s)
        assert current.id != old.id and current.text == new_text.replace("\r\n", "\n")
        assert not people.has_current_consent(s, s.get(Parent, agreed).line_user_pk)
        assert staff_policy.parents_agreed_to(s, current) == 0
        assert audit.search(s, audit.Filter(action_prefix="policy.publish"))[0].subject_id == str(current.id)
    page = admin.get("/staff/policy").get_data(as_text=True)
    assert "現行の版に同意済み</dt><dd>0人" in page and "同意の確認待ち</dt><dd>2人" in page


def test_republishing_an_older_text_is_refused(console, csrf_token):
    admin, _ = console("admin")
    token = csrf_token(admin, "/staff/policy")
    with unit_of_work() as s:
        first = people.current_policy(s).text
    admin.post("/staff/policy/publish", data={"csrf_token": token, "text": first + "\n追記。" * 2, "confirm": "y"})
    response = admin.post("/staff/policy/publish", data={"csrf_token": token, "text": first, "confirm": "y"})
    assert response.status_code == 400 and "過去に公開した版と同じ本文です" in response.get_data(as_text=True)


# --- audit log ---------------------------------------------------------------------------------------------------
def test_the_audit_log_filters_and_exports_and_cannot_be_changed(console, parent_factory):
    parent_id = parent_factory()
    client, account = console("admin")
    client.get(f"/staff/parents/{parent_id}")
    page = client.get(f"/staff/audit?action=parent.view&subject_type=parent&subject_id={parent_id}")
    html = page.get_data(as_text=True)
    assert "保護者情報の閲覧" in html and f"保護者 #{parent_id}" in html and "ログイン</td>" not in html
    response = client.get(f"/staff/audit/export.csv?actor={account.id}")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["番号", "日時", "操作者", "操作"]
    assert {r[3] for r in rows[1:]} == {"staff.login", "parent.view"}
    with unit_of_work() as s:
        assert audit.count(s, audit.Filter(action_prefix="audit.export")) == 1
        entry = s.scalars(select(AuditEvent)).first()
        entry.action = "tampered"
        with pytest.raises(AuditTrailIsAppendOnly):
            s.flush()
    with unit_of_work() as s, pytest.raises(AuditTrailIsAppendOnly):
        s.delete(s.scalars(select(AuditEvent)).first())
        s.flush()
    assert not [
        r for r in client.application.url_map.iter_rules() if r.rule.startswith("/staff/audit") and "POST" in r.methods
    ]


def test_audit_details_refuse_personal_data(app):
    with unit_of_work() as s:
        for details in ({"name": "船橋 花子"}, {"note": "x"}, {"fields": "x" * 200}, {"fields": [{"a": 1}]}):
            with pytest.raises(ValueError):
                audit.record(s, action="parent.correct", actor_label="system", details=details)


def test_a_parents_reports_are_on_the_record_in_the_export_and_erased_with_it(console, csrf_token, parent_factory):
    from storage import reports

    parent_id = parent_factory()
    with unit_of_work() as s:
        escalation = reports.create_escalation(
            s, kind="lost_credentials", reference="R-7KQ2MX", parent_id=parent_id, centre="minamihoncho"
        )
        reports.add_report(
            s,
            escalation,
            lost="join_link",
            lost_when="today",
            misuse="unsure",
            event_ids=[],
            note="スマホを電車に置き忘れました",
            held=[],
        )
        reports.add_message(s, escalation, direction="to_parent", text="新しいリンクをお送りします", staff_id=None)
    client, _ = console("admin")
    page = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "R-7KQ2MX" in page and "スマホを電車に置き忘れました" in page and "参加用リンク" in page
    token = csrf_token(client, f"/staff/parents/{parent_id}")
    data = json.loads(client.post(f"/staff/parents/{parent_id}/export.json", data={"csrf_token": token}).data)
    (report,) = data["reports"]
    assert (
        report["note"] == "スマホを電車に置き忘れました"
        and report["messages"][0]["text"] == "新しいリンクをお送りします"
    )
    client.post(f"/staff/parents/{parent_id}/erase", data={"csrf_token": token, "confirm": "y"})
    with unit_of_work() as s:
        assert reports.report_of(s, escalation.id).note == ""
        assert reports.messages(s, [escalation.id])[escalation.id][0].text == ""
        assert reports.report_of(s, escalation.id).lost == "join_link"  # the code stays for statistics
