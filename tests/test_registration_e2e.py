"""Registration and consent end to end: signed webhooks in, the LINE double out, the records in the database."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from handlers.registration.policy_text import POLICY_TEXT, policy_hash
from handlers.registration.texts import MONTH_NAMES_EN
from storage import people
from storage.clock import today_tokyo
from storage.db import unit_of_work
from storage.models import ConsentRecord, LineUser, PolicyVersion


def months_ago(n: int) -> date:
    today = today_tokyo()
    index = today.year * 12 + today.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def stored(user_id: str):
    with unit_of_work() as s:
        user = s.scalars(select(LineUser).where(LineUser.line_user_id == user_id)).one()
        parent = people.parent_of(s, user.id)
        records = s.scalars(
            select(ConsentRecord).where(ConsentRecord.line_user_pk == user.id).order_by(ConsentRecord.id)
        ).all()
        versions = {v.id: v.content_hash for v in s.scalars(select(PolicyVersion))}
        children = [c.birth_month for c in parent.children] if parent else []
        answers = [(r.answer, versions[r.policy_version_id], r.channel) for r in records]
        return user.language, parent, children, answers, people.has_current_consent(s, user.id)


def test_follow_register_and_consent_in_ten_taps_and_messages_store_exactly_what_was_entered(chat):
    parent = chat()
    said = parent.follow()
    born = months_ago(18)
    inputs = [
        ("tap", "就学前の子の保護者"),
        ("say", "船橋 花子（ふなばし はなこ）"),
        ("say", "０９０-１２３４-５６７８"),
        ("say", f"{born.year}年{born.month}月"),
        ("tap", "南本町子育て支援センター"),
        ("tap", "登録する"),
        ("tap", "次へ"),
        ("tap", "次へ"),
        ("tap", "次へ"),
        ("tap", "同意する"),
    ]
    for kind, value in inputs:
        assert said, f"no reply before {value}"
        said = parent.choose(said, value) if kind == "tap" else parent.say(value)
    assert len(inputs) <= 10
    assert "同意いただき、ありがとうございます" in parent.texts(said)
    language, saved, children, answers, current = stored(parent.user_id)
    assert (saved.name, saved.furigana, saved.phone) == ("船橋 花子", "ふなばし はなこ", "09012345678")
    assert (saved.is_guardian, saved.is_pregnant, saved.due_month, saved.centre) == (True, False, None, "minamihoncho")
    assert children == [born] and language == "ja"
    assert answers == [("agreed", policy_hash(), "line")] and current


def test_an_english_speaking_pregnant_parent_registers_and_declines(chat):
    parent = chat()
    said = parent.follow()
    said = parent.choose(said, "English")
    assert "We only ask for" in parent.texts(said)
    said = parent.choose(said, "Pregnant")
    said = parent.say("Maria Garcia")
    said = parent.say("+81 80-1111-2222")
    due = months_ago(-4)
    said = parent.choose(said, f"{MONTH_NAMES_EN[due.month - 1]} {due.year}")
    said = parent.choose(said, "Takanedai Centre")
    assert "Please check" in parent.texts(said)
    said = parent.choose(said, "Register")
    for _ in range(3):
        said = parent.choose(said, "Next")
    said = parent.choose(said, "I do not agree")
    assert "you cannot apply for or join" in parent.texts(said)
    language, saved, children, answers, current = stored(parent.user_id)
    assert (saved.name, saved.furigana, saved.phone, saved.centre) == ("Maria Garcia", "", "08011112222", "takanedai")
    assert (saved.is_guardian, saved.is_pregnant, saved.due_month) == (False, True, due) and children == []
    assert language == "en" and answers == [("declined", policy_hash(), "line")] and not current


def register_and_agree(parent) -> list:
    said = parent.follow()
    said = parent.choose(said, "就学前の子の保護者")
    parent.say("高根 太郎 たかね たろう")
    parent.say("047-436-2111")
    said = parent.say("2023年4月" if months_ago(0).year < 2028 else "2026年4月")
    said = parent.choose(said, "高根台子育て支援センター")
    said = parent.choose(said, "登録する")
    for _ in range(3):
        said = parent.choose(said, "次へ")
    return parent.choose(said, "同意する")


def test_withdrawing_consent_is_recorded_and_can_be_undone(chat):
    parent = chat()
    register_and_agree(parent)
    said = parent.tap("1|policy|start||")
    said = parent.choose(said, "同意を取り消す")
    said = parent.choose(said, "取り消す")
    assert "同意を取り消しました" in parent.texts(said)
    *_, answers, current = stored(parent.user_id)
    assert [a for a, *_ in answers] == ["agreed", "withdrawn"] and not current
    said = parent.tap("1|policy|start||")
    said = parent.choose(said, "確認して同意する")
    for _ in range(3):
        said = parent.choose(said, "次へ")
    parent.choose(said, "同意する")
    *_, answers, current = stored(parent.user_id)
    assert [a for a, *_ in answers] == ["agreed", "withdrawn", "agreed"] and current


def test_a_new_policy_version_asks_for_consent_again_and_records_against_it(chat):
    parent = chat()
    register_and_agree(parent)
    revised_text = POLICY_TEXT + "\n10. 附則\n\nこのポリシーは改定後の版です。\n"
    with unit_of_work() as s:
        new_version = people.ensure_policy(s, revised_text).content_hash
    *_, current = stored(parent.user_id)
    assert not current
    said = parent.tap("1|policy|start||")
    assert "改定されました" in parent.texts(said)
    said = parent.choose(said, "確認して同意する")
    assert "改定されました" in parent.texts(said) and "全文もお読みください" in parent.texts(said)
    for _ in range(3):
        said = parent.choose(said, "次へ")
    parent.choose(said, "同意する")
    *_, answers, current = stored(parent.user_id)
    assert answers[-1] == ("agreed", new_version, "line") and current


def test_profile_changes_are_saved_through_the_webhook(chat):
    parent = chat()
    register_and_agree(parent)
    said = parent.say("登録情報")
    said = parent.choose(said, "センターを直す")
    said = parent.choose(said, "地域子育て支援課")
    said = parent.choose(said, "保存する")
    assert "保存しました" in parent.texts(said)
    _, saved, *_ = stored(parent.user_id)
    assert saved.centre == "division" and saved.name == "高根 太郎" and saved.phone == "0474362111"


def test_a_sticker_mid_registration_gets_a_hint_and_the_question_again(chat):
    parent = chat()
    said = parent.follow()
    parent.choose(said, "就学前の子の保護者")
    said = parent.sticker()
    assert "文字で入力" in parent.texts(said) and "お名前とふりがな" in parent.texts(said)


def test_a_message_outside_any_flow_is_thanked_with_the_phone_and_the_menu_said_once(chat):
    parent = chat()
    parent.choose(parent.follow(), "やめる")
    said = parent.texts(parent.say("あ" * 6000))
    assert "メッセージありがとうございます" in said and "お電話でどうぞ：047-436-2111" in said
    assert said.count("メニュー") == 1, said


def test_the_policy_page_is_readable_on_a_phone(client):
    page = client.get("/policy").get_data(as_text=True)
    assert 'name="viewport"' in page and '<h2 id="s6">6. 禁止事項</h2>' in page
    assert "オンライン事業等の映像、写真、音声をSNSなどに投稿する行為" in page
    assert page.count("<li>") >= 20 and policy_hash()[:12] in page
    assert "<style" not in page and "style=" not in page, "the content security policy allows no inline style"
    assert client.get("/static/policy.css").status_code == 200


def test_saving_again_replaces_the_details_and_keeps_nothing_the_parent_removed(app):
    with unit_of_work() as s:
        user = LineUser(line_user_id="U" + "1" * 32, language="ja")
        s.add(user)
        s.flush()
        details = dict(name="船橋 花子", furigana="ふなばし はなこ", phone="09012345678", centre="division")
        people.save_parent(
            s,
            user.id,
            **details,
            is_guardian=True,
            is_pregnant=True,
            due_month=date(2027, 1, 1),
            children=[date(2024, 5, 1), date(2022, 1, 1)],
        )
        first_registered = people.parent_of(s, user.id).registered_at
        people.save_parent(
            s,
            user.id,
            **details,
            is_guardian=True,
            is_pregnant=False,
            due_month=date(2027, 1, 1),
            children=[date(2024, 5, 1)],
        )
        parent = people.parent_of(s, user.id)
        assert [c.birth_month for c in parent.children] == [date(2024, 5, 1)]
        assert parent.due_month is None and parent.registered_at == first_registered


def test_a_feature_can_hook_into_consent_withdrawal_after_it_is_recorded(app, monkeypatch):
    from handlers import effects

    seen = []
    monkeypatch.setitem(
        effects.APPLIERS,
        effects.ConsentWithdrawn,
        [
            *effects.APPLIERS[effects.ConsentWithdrawn],
            lambda s, user, e: seen.append(people.latest_consent(s, user.id).answer),
        ],
    )
    with unit_of_work() as s:
        user = LineUser(line_user_id="U" + "2" * 32, language="ja")
        s.add(user)
        s.flush()
        given, withdrawn = effects.RecordConsent("agreed", policy_hash()), effects.ConsentWithdrawn(policy_hash())
        effects.apply(s, user, [given, withdrawn])
        assert seen == ["withdrawn"] and not people.has_current_consent(s, user.id)
