"""The forms of the 当番・通知先 page: an address, a slot of the rota, a dated exception, a manual override."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from bot.staff.forms import REQUIRED, MultiCheckboxField, ScopedChoice, choices

WEEKDAYS = "月火水木金土日"
CLOCK = Regexp(r"^([01]?\d|2[0-3]):[0-5]\d$|^24:00$", message="「9:00」「17:30」の形で入力してください。")
CHANNEL_LABELS = {"email": "メール", "webhook": "Webhook（Slack・Teams など）"}
EXCEPTION_LABELS = {
    "closed": "休み（当番表を使わない）",
    "open": "祝日だが開所（当番表どおり）",
    "substitute": "代わりの当番",
}
OVERRIDE_LABELS = {"rota": "当番表どおり", "on": "常に当番（手動）", "off": "当番にしない（手動）"}


def minutes(clock: str) -> int:
    hours, _, mins = clock.partition(":")
    return int(hours) * 60 + int(mins)


def clock_text(value: int) -> str:
    return f"{value // 60}:{value % 60:02d}"


def people_choices(people: list[tuple[int, str]], *, blank: bool = False) -> list[SelectChoice]:
    return [SelectChoice(0, "—")] * blank + [SelectChoice(i, name) for i, name in people]


class RouteForm(FlaskForm):
    channel = SelectField("種類", choices=choices(CHANNEL_LABELS))
    address = StringField("メールアドレス・WebhookのURL", [DataRequired(REQUIRED), Length(max=1000)])


class SlotForm(FlaskForm):
    staff_id = ScopedChoice("職員")
    weekdays = MultiCheckboxField("曜日", coerce=int, choices=[SelectChoice(n, day) for n, day in enumerate(WEEKDAYS)])
    starts = StringField("開始", [DataRequired(REQUIRED), CLOCK], default="9:00")
    ends = StringField("終了", [DataRequired(REQUIRED), CLOCK], default="17:00")


class ExceptionForm(FlaskForm):
    day = DateField("日付", [DataRequired(REQUIRED)])
    kind = SelectField("内容", choices=choices(EXCEPTION_LABELS))
    staff_id = ScopedChoice("代わりに入る職員", validators=[Optional()])
    replaces_id = ScopedChoice("休む職員", validators=[Optional()])


class OverrideForm(FlaskForm):
    staff_id = ScopedChoice("職員")
    value = SelectField("当番", choices=choices(OVERRIDE_LABELS))
