"""The console's forms (Flask-WTF: each carries the CSRF token). Validation messages are in Japanese."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, EqualTo, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from bot.staff.labels import CENTRE_LABELS, KIND_LABELS, POLICY_ITEM_LABELS, ROLE_LABELS
from storage import staff

REQUIRED = "入力してください。"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def choices(labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


CENTRE_CHOICES = choices(CENTRE_LABELS)
ROLE_CHOICES = choices(ROLE_LABELS)


class RecordId(HiddenField):
    """The id of a record, carried in the form body. Views read it only with ``bot.staff.records.from_form``, which
    loads it within the actor's scope; ``kind`` names the record, ``within`` the kind of the URL's record it must
    belong to (tests/test_staff_scope_forms.py finds every such field and tries another centre's id in it)."""

    def __init__(self, label=None, validators=None, *, kind: str, within: str | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.kind, self.within = kind, within


class ScopedChoice(SelectField):
    """A record picked from a list the view fills, for each request, from the actor's scope (``choices``). WTForms
    refuses any value that was not offered, so an id of another centre's record never validates
    (tests/test_staff_scope_forms.py tries one in each such field)."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=int, validate_choice=True, **kwargs)


def _password_rule(form, field) -> None:
    """The password rules (storage.staff.password_problem), with the login when the form has one; views whose form
    has no login field check again with the account's."""
    if field.data:
        login = getattr(form, "login", None)
        problem = staff.password_problem(field.data, login=login.data if login is not None else None)
        if problem:
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    login = StringField("ログインID（メールアドレス）", [DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField("パスワード", [DataRequired(REQUIRED), Length(max=staff.PASSWORD_MAX)])


class TotpForm(FlaskForm):
    code = StringField("確認コード（6桁）", [DataRequired(REQUIRED), Length(max=12)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("いまのパスワード", [DataRequired(REQUIRED)])
    new = PasswordField(f"新しいパスワード（{staff.PASSWORD_MIN}文字以上）", [DataRequired(REQUIRED), _password_rule])
    confirm = PasswordField("新しいパスワード（確認）", [EqualTo("new", "確認用のパスワードが一致しません。")])


class TotpDisableForm(FlaskForm):
    password = PasswordField("パスワード", [DataRequired(REQUIRED)])


class StaffForm(FlaskForm):
    name = StringField("氏名", [DataRequired(REQUIRED), Length(max=100)])
    login = StringField("ログインID（メールアドレス）", [DataRequired(REQUIRED), Length(max=254)])
    centre = SelectField("所属", choices=CENTRE_CHOICES)
    role = SelectField("権限", choices=ROLE_CHOICES)


class NewStaffForm(StaffForm):
    password = PasswordField(
        f"初期パスワード（{staff.PASSWORD_MIN}文字以上）", [DataRequired(REQUIRED), _password_rule]
    )


class PasswordResetForm(FlaskForm):
    password = PasswordField(
        f"新しいパスワード（{staff.PASSWORD_MIN}文字以上）", [DataRequired(REQUIRED), _password_rule]
    )


class ParentSearchForm(FlaskForm):
    q = StringField("氏名・ふりがな・電話番号の一部", [DataRequired(REQUIRED), Length(max=100)])


class ParentCorrectionForm(FlaskForm):
    name = StringField("氏名", [DataRequired(REQUIRED), Length(max=100)])
    furigana = StringField("ふりがな", [DataRequired(REQUIRED), Length(max=100)])
    phone = StringField(
        "電話番号",
        [
            DataRequired(REQUIRED),
            Length(max=20),
            Regexp(r"^[0-9０-９\-－ー‐ ]+$", message="数字とハイフンで入力してください。"),
        ],
    )
    centre = SelectField("利用センター", choices=CENTRE_CHOICES)
    is_guardian = BooleanField("保護者")
    is_pregnant = BooleanField("妊娠中")
    due_month = DateField("出産予定月", [Optional()], format="%Y-%m")


class ConfirmForm(FlaskForm):
    """A deliberate, irreversible action: the box must be ticked."""

    confirm = BooleanField("内容を確認しました", [DataRequired("確認のチェックを入れてください。")])


class PolicyForm(FlaskForm):
    text = TextAreaField("ポリシー本文", [DataRequired(REQUIRED), Length(min=200, max=50_000)])
    confirm = BooleanField(
        "公開すると、すべての登録者に改めて同意をお願いすることを確認しました",
        [DataRequired("確認のチェックを入れてください。")],
    )


class EventForm(FlaskForm):
    """An event's details. Times are entered in Japan time; the passcode is never shown again (blank: unchanged)."""

    centre = SelectField("主催", choices=CENTRE_CHOICES)
    kind = SelectField("種類", choices=choices(KIND_LABELS))
    title = StringField("タイトル", [DataRequired(REQUIRED), Length(max=100)])
    description = TextAreaField("内容（保護者に表示されます）", [Length(max=2000)])
    starts_at = DateTimeLocalField("開始", [DataRequired(REQUIRED)], format=DATETIME_FORMAT)
    ends_at = DateTimeLocalField("終了", [DataRequired(REQUIRED)], format=DATETIME_FORMAT)
    capacity = IntegerField("定員", [DataRequired(REQUIRED), NumberRange(1, 500, "1〜500で入力してください。")])
    target_min_months = IntegerField(
        "対象：月齢（から）", [Optional(), NumberRange(0, 84, "0〜84か月で入力してください。")]
    )
    target_max_months = IntegerField(
        "対象：月齢（まで）", [Optional(), NumberRange(0, 84, "0〜84か月で入力してください。")]
    )
    target_pregnant = BooleanField("妊娠中の方も対象")
    applications_open_at = DateTimeLocalField("申込受付の開始", [DataRequired(REQUIRED)], format=DATETIME_FORMAT)
    applications_close_at = DateTimeLocalField("申込の締切", [DataRequired(REQUIRED)], format=DATETIME_FORMAT)
    needs_approval = BooleanField("申し込みを職員が承認してから参加確定にする")
    conference_service = StringField("WEB会議サービス", [DataRequired(REQUIRED), Length(max=40)], default="Zoom")
    join_url = StringField(
        "参加URL", [DataRequired(REQUIRED), Length(max=500), URL(message="https:// から始まるURLを入力してください。")]
    )
    meeting_id = StringField("ミーティングID", [Length(max=40)])
    passcode = PasswordField("パスコード（保存後は表示されません。変えるときだけ入力）", [Length(max=40)])
    join_opens_minutes = IntegerField(
        "参加方法の表示（開始の何分前から）", [NumberRange(0, 120, "0〜120分で入力してください。")], default=15
    )

    def validate_ends_at(self, field) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError("終了は開始より後にしてください。")

    def validate_applications_close_at(self, field) -> None:
        opens = self.applications_open_at.data
        if opens and field.data and field.data <= opens:
            raise ValidationError("締切は受付の開始より後にしてください。")
        if self.ends_at.data and field.data and field.data > self.ends_at.data:
            raise ValidationError("締切はイベントの終了より前にしてください。")

    def validate_target_max_months(self, field) -> None:
        low = self.target_min_months.data
        if low is not None and field.data is not None and field.data < low:
            raise ValidationError("「まで」は「から」以上にしてください。")

    def validate_join_url(self, field) -> None:
        if not field.data.startswith("https://"):
            raise ValidationError("https:// から始まるURLを入力してください。")


class NewEventForm(EventForm):
    repeat = SelectField(
        "繰り返し", choices=choices({"none": "なし（1回）", "weekly": "毎週", "monthly": "毎月（同じ日）"})
    )
    repeat_count = IntegerField("回数", [NumberRange(1, 12, "1〜12回で入力してください。")], default=1)
    publish = BooleanField("作成してすぐに公開する（保護者に表示され、お知らせを希望した方に通知されます）")
    copy_of = RecordId(kind="event")


def _at_least_one(_form, field) -> None:
    # Not DataRequired: its "required" flag would make the browser demand every checkbox.
    if not field.data:
        raise ValidationError("根拠を少なくとも一つ選んでください。")


class SanctionForm(FlaskForm):
    """Policy 6: the items broken, until when, and a note for the record (never sent to the parent)."""

    policy_items = MultiCheckboxField(
        "根拠（ポリシー6の禁止事項）",
        choices=choices({k: f"{k} {v}" for k, v in POLICY_ITEM_LABELS.items()}),
        validators=[_at_least_one],
    )
    until = DateField("期限（この日まで。空欄なら無期限）", [Optional()])
    note = TextAreaField("メモ（経緯など。ご本人には送られません）", [Length(max=2000)])


class RemovalForm(SanctionForm):
    bar_future = BooleanField("以後のイベントへの参加も断る")


class InstructionForm(FlaskForm):
    text = TextAreaField("ご本人への連絡・指示（このままLINEで届きます）", [DataRequired(REQUIRED), Length(max=1000)])


class ResolveForm(FlaskForm):
    links = RadioField(
        "解決のしかた",
        choices=choices(
            {
                "send": "新しい参加用リンクを送って解決する",
                "hold": "リンクは送らずに解決する（電話などで案内済み。あとで参加者ページから再発行できます）",
            }
        ),
        validators=[DataRequired("選んでください。")],
    )


class LoanDecisionForm(FlaskForm):
    decision = RadioField(
        "決定",
        choices=choices({"approve": "貸し出す", "decline": "今回はお断りする"}),
        validators=[DataRequired("選んでください。")],
    )
    note = TextAreaField(
        "ご本人へのお知らせ（受け取り方法、またはお断りの理由）", [DataRequired(REQUIRED), Length(max=1000)]
    )


class RotateForm(FlaskForm):
    """New web-conference details after a leak (policy 5-(3)): every participant gets a new personal link."""

    join_url = StringField(
        "新しい参加URL",
        [DataRequired(REQUIRED), Length(max=500), URL(message="https:// から始まるURLを入力してください。")],
    )
    passcode = PasswordField("新しいパスコード", [DataRequired(REQUIRED), Length(max=40)])
    escalation_id = RecordId(kind="escalation", within="event")
    confirm = BooleanField(
        "参加確定の方全員の参加用リンクを作り直して送ることを確認しました",
        [DataRequired("確認のチェックを入れてください。")],
    )
