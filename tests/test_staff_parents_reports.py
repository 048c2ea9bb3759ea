"""The APPI data-rights actions cover what a parent raised with staff: a parent with a loss report, a loan request and
a thread with staff (built through the chat, as it happens) is fully disclosed by the export (JSON and CSV), and after
erasure none of the free text written by or about them is left anywhere in the database, while the anonymous facts
(kind, codes, status, times) stay for statistics."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import JSON, String, Text, select

from handlers.postback import encode
from storage import feedback, reports
from storage.db import unit_of_work
from storage.models import Base, Escalation, LoanRequest, LostCredentialReport, ReportEvent
from tests.report_support import file_report, label_of, outbox_rows, parent_with_events, staff_in_line
from tests.support import ChatUser

REPORT_NOTE = "花子のスマホを電車に置き忘れました"
INSTRUCTION = "花子さん、いまどちらの端末から参加していますか?"
ANSWER = "夫のタブレットから参加しています"
LOAN_NOTE = "花子宛てに南本町センターで受け取りたいです"
DECISION = "花子さんへ 6月10日に南本町センターの窓口でお渡しします。"
COMMENT = "花子です。とても楽しかった"
WORDS = (REPORT_NOTE, INSTRUCTION, ANSWER, LOAN_NOTE, DECISION, COMMENT)
IDENTITY = ("船橋 花子", "ふなばし はなこ", "090-1234-5678")


def request_loan(parent: ChatUser, note: str) -> None:
    messages = parent.tap(encode("loan", "start"))
    messages = parent.choose(parent.choose(messages, "パソコン"), "決定")
    messages = parent.choose(messages, label_of(messages, "ねんね"))
    messages = parent.choose(messages, "機器を持っていない")
    parent.choose(parent.say(note), "相談する")


def a_parent_who_raised_everything(chat):
    """A report with a note, an instruction and its answer, a loan request with a note and its decision, and a
    feedback comment; staff use their LINE throughout, so copies of the words are in their chats too."""
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat, event_centre="minamihoncho")
    file_report(parent.chat, lost="その他", note=REPORT_NOTE)
    staff_user.choose(staff_user.new_messages(), "指示を送る")
    staff_user.choose(staff_user.say(INSTRUCTION), "送る")
    parent.chat.choose(parent.chat.new_messages(), "返信する")
    parent.chat.choose(parent.chat.say(ANSWER), "送る")
    request_loan(parent.chat, LOAN_NOTE)
    staff_user.choose(staff_user.new_messages(), "貸出OK")
    staff_user.choose(staff_user.say(DECISION), "送る")
    with unit_of_work() as s:
        feedback.record_score(s, parent.parent_id, parent.event_ids[0], 5)
        feedback.record_comment(s, parent.parent_id, parent.event_ids[0], COMMENT)
        kinds = {e.kind for e in s.scalars(select(Escalation).where(Escalation.parent_id == parent.parent_id))}
        assert kinds == {"lost_credentials", "equipment_loan"}
    return parent


def stored_text() -> dict[str, list[str]]:
    """Every string and JSON value of every table, by "table.column"."""
    found: dict[str, list[str]] = {}
    with unit_of_work() as s:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            for row in s.execute(select(*columns)) if columns else ():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        found.setdefault(f"{table.name}.{column.name}", []).append(text)
    return found


def where(strings: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of ``strings`` are stored in which columns."""
    out: dict[str, list[str]] = {}
    for column, values in stored_text().items():
        hits = sorted({w for w in strings for v in values if w in v})
        if hits:
            out[column] = hits
    return out


def test_the_export_holds_every_report_loan_and_message_and_erasure_leaves_no_word_of_them(chat, console, csrf_token):
    parent = a_parent_who_raised_everything(chat)
    assert set(WORDS) <= {w for hits in where(WORDS).values() for w in hits}  # the scan does find them
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/parents/{parent.parent_id}")

    data = json.loads(client.post(f"/staff/parents/{parent.parent_id}/export.json", data={"csrf_token": token}).data)
    by_kind = {r["kind"]: r for r in data["reports"]}
    report, loan = by_kind["lost_credentials"], by_kind["equipment_loan"]
    assert report["reference"].startswith("R-") and loan["reference"].startswith("L-")
    assert (report["lost"], report["lost_when"], report["misuse"], report["note"]) == (
        "other",
        "today",
        "yes",
        REPORT_NOTE,
    )
    assert report["status"] == "acknowledged" and report["created_at"] and report["acknowledged_at"]
    assert [(m["direction"], m["text"]) for m in report["messages"]] == [
        ("to_parent", INSTRUCTION),
        ("from_parent", ANSWER),
    ]
    assert all(m["at"] for m in report["messages"]) and report["messages"][0]["answered_at"]
    assert {"created", "instruction_sent", "answered"} <= {e["action"] for e in report["events"]}
    assert all(e["at"] for e in report["events"])
    assert (loan["equipment"], loan["event_id"], loan["reason"]) == (["pc"], parent.event_ids[0], "no_device")
    assert (loan["note"], loan["decision_note"], loan["outcome"]) == (LOAN_NOTE, DECISION, "approved")
    assert loan["status"] == "resolved" and loan["resolved_at"]
    assert "loan_approved" in {e["action"] for e in loan["events"]}
    assert data["feedback"][0]["comment"] == COMMENT
    exported = json.dumps(data, ensure_ascii=False)
    assert all(w in exported for w in WORDS)

    response = client.post(f"/staff/parents/{parent.parent_id}/export.csv", data={"csrf_token": token})
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    cells = "\n".join(",".join(r) for r in rows)
    assert all(w in cells for w in WORDS)
    assert ["報告・相談", "1", "note", DECISION] not in rows  # the loan comes first (newest), then the report
    assert any(r[0] == "報告・相談" and r[2] == "decision_note" and r[3] == DECISION for r in rows)
    assert any(r[0] == "報告・相談" and r[2] == "messages" and ANSWER in r[3] for r in rows)

    client.post(f"/staff/parents/{parent.parent_id}/erase", data={"csrf_token": token, "confirm": "y"})
    assert where(WORDS + IDENTITY) == {}
    with unit_of_work() as s:
        # The rows stay, with their codes, status and times, for anonymous statistics.
        escalations = {e.kind: e for e in s.scalars(select(Escalation).where(Escalation.parent_id == parent.parent_id))}
        assert escalations["equipment_loan"].outcome == "approved" and escalations["equipment_loan"].resolved_at
        kept_report = s.scalars(select(LostCredentialReport)).one()
        assert (kept_report.lost, kept_report.lost_when, kept_report.misuse) == ("other", "today", "yes")
        kept_loan = s.scalars(select(LoanRequest)).one()
        assert (kept_loan.equipment, kept_loan.reason, kept_loan.note, kept_loan.decision_note) == (
            ["pc"],
            "no_device",
            "",
            "",
        )
        thread = reports.messages(s, [escalations["lost_credentials"].id])[escalations["lost_credentials"].id]
        assert [(m.direction, m.text) for m in thread] == [("to_parent", ""), ("from_parent", "")]
        assert s.scalars(select(ReportEvent)).first() is not None
    page = client.get(f"/staff/escalations/{escalations['lost_credentials'].id}")
    assert page.status_code == 200 and REPORT_NOTE not in page.get_data(as_text=True)


def test_erasure_reaches_the_copies_staff_hold_and_a_reply_they_were_still_writing(chat, console, csrf_token):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat, event_centre="minamihoncho")
    file_report(parent.chat, lost="その他", note=REPORT_NOTE)
    staff_user.new_messages()
    listed = staff_user.tap(encode("staff", "start", "list"))  # the list of open matters shows the note
    assert REPORT_NOTE in ChatUser.texts(listed)
    staff_user.choose(listed, "指示を送る")
    staff_user.say(INSTRUCTION)  # written, previewed, not sent yet
    # The copies sent to staff lost their body when they were sent (storage.outbox).
    assert set(where((REPORT_NOTE, INSTRUCTION))) == {"lost_credential_reports.note", "conversation_states.data"}
    client, _ = console("admin")
    token = csrf_token(client, f"/staff/parents/{parent.parent_id}")
    client.post(f"/staff/parents/{parent.parent_id}/erase", data={"csrf_token": token, "confirm": "y"})
    assert where((REPORT_NOTE, INSTRUCTION) + IDENTITY) == {}
    alert = outbox_rows("staff_alert")
    assert len(alert) == 1 and alert[0].status == "sent" and alert[0].messages == []  # nothing left to redact
