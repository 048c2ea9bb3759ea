"""Registration (flow "registration"), and the steps it shares with editing later (flow "profile", handlers.registration.profile).

Who may register (policy 6-(9)): a guardian of a preschool child, a pregnant person, or both, aged 18 or over,
registering for themselves; someone under 18 is turned away kindly with the division's phone number. What is asked,
and only that (data minimisation; the purpose is said first, APPI art. 62): name and ふりがな, a phone number, each
child's birth month or the due month, the preferred centre, the language. A confirmation card shows it all, any field
can be changed from there, and only "登録する" saves (``SaveProfile``); consent follows (``Finish(then="consent")``).

The order of questions is not a fixed list: after each answer the flow goes to the first thing still missing
(``next_missing``), so editing one field from the card comes back to the card. Diagram: registration.mmd.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from handlers import normalize, texts
from handlers.effects import SaveProfile, SetLanguage
from handlers.engine import LANG_KEY, Context, Finish, Flow, Go, Input, Retry, Step, StepResult, picked
from handlers.postback import encode
from handlers.registration import rules
from handlers.registration.texts import TEXTS, month_label
from handlers.replies import Card, Choice, Reply, Text
from storage.clock import to_tokyo


class Ask(StrEnum):
    """The steps of registration and profile (stored as ``conversation_states.step``)."""

    WHO = "who"  # the role, and being 18 or over
    NAME = "name"
    FURIGANA = "furigana"
    PHONE = "phone"
    CHILD = "child"
    CHILD_MONTH = "child_month"  # after a year button
    DUE = "due"
    CHILDREN = "children"  # add or remove, from the card
    CENTRE = "centre"
    CONFIRM = "confirm"  # the card


# Fields the card offers to change, and the step that asks each.
EDITS = {
    "role": Ask.WHO,
    "name": Ask.NAME,
    "phone": Ask.PHONE,
    "children": Ask.CHILDREN,
    "due": Ask.DUE,
    "centre": Ask.CENTRE,
}


def t(ctx: Any, key: str, **values: Any) -> str:
    return TEXTS.t(ctx, key, **values)


def today(ctx: Context) -> date:
    return to_tokyo(ctx.now).date()


def both_languages(key: str, **values: Any) -> tuple[str, ...]:
    return tuple(TEXTS.t(lang, key, **values) for lang in texts.LANGS)


def is_guardian(data: Mapping[str, Any]) -> bool:
    return data.get("role") in ("guardian", "both")


def is_pregnant(data: Mapping[str, Any]) -> bool:
    return data.get("role") in ("pregnant", "both")


def next_missing(data: Mapping[str, Any]) -> str:
    """The first question still unanswered, or the card when everything is there."""
    if data.get("role") not in rules.ROLES:
        return Ask.WHO
    if not data.get("name"):
        return Ask.NAME
    if data.get("furigana") is None:
        return Ask.FURIGANA
    if not data.get("phone"):
        return Ask.PHONE
    if is_guardian(data) and not data.get("children"):
        return Ask.CHILD
    if is_pregnant(data) and not data.get("due"):
        return Ask.DUE
    if data.get("centre") not in rules.CENTRES:
        return Ask.CENTRE
    return Ask.CONFIRM


def profile_from(data: Mapping[str, Any]) -> SaveProfile:
    return SaveProfile(
        name=data["name"],
        furigana=data["furigana"],
        phone=data["phone"],
        is_guardian=is_guardian(data),
        is_pregnant=is_pregnant(data),
        due_month=data.get("due") if is_pregnant(data) else None,
        children=tuple(sorted(data.get("children") or ())) if is_guardian(data) else (),
        centre=data["centre"],
    )


def snapshot(data: Mapping[str, Any]) -> dict[str, Any]:
    """What would be saved, in the JSON shape flow data is stored in (to tell whether anything changed)."""
    saved = asdict(profile_from(data))
    saved["children"] = list(saved["children"])
    return saved


def data_from_profile(ctx: Context) -> dict[str, Any]:
    """Flow data from the stored profile (``services.context``), the starting point for editing."""
    p = ctx.profile
    guardian, pregnant = bool(p.get("is_guardian")), bool(p.get("is_pregnant"))
    role = "both" if guardian and pregnant else "pregnant" if pregnant else "guardian"
    return {
        "role": role,
        "name": p.get("name", ""),
        "furigana": p.get("furigana", ""),
        "phone": p.get("phone", ""),
        "children": list(p.get("children") or []),
        "due": p.get("due_month"),
        "centre": p.get("centre"),
        "lang": ctx.lang,
    }


def nav(ctx: Any, back: bool = True) -> tuple[Choice, ...]:
    """Typed-word buttons the engine understands everywhere: one step back, and leave."""
    out = [Choice(t(ctx, "nav.back"), text=t(ctx, "nav.back"))] if back else []
    return (*out, Choice(t(ctx, "nav.cancel"), text=t(ctx, "nav.cancel")))


def summary_lines(ctx: Context, data: Mapping[str, Any]) -> list[str]:
    none = t(ctx, "line.none")
    lines = [t(ctx, "line.role", value=t(ctx, f"who.{data['role']}")), t(ctx, "line.name", value=data["name"])]
    if data.get("furigana"):
        lines.append(t(ctx, "line.furigana", value=data["furigana"]))
    lines.append(t(ctx, "line.phone", value=rules.format_phone(data["phone"])))
    if is_guardian(data):
        born = [t(ctx, "line.child", month=month_label(ctx, m)) for m in sorted(data.get("children") or ())]
        children = t(ctx, "line.sep").join(born)
        lines.append(t(ctx, "line.children", value=children or none))
    if is_pregnant(data):
        lines.append(t(ctx, "line.due", value=month_label(ctx, data["due"]) if data.get("due") else none))
    lines.append(t(ctx, "line.centre", value=t(ctx, f"centre.{data['centre']}")))
    lines.append(t(ctx, "line.lang", value=t(ctx, f"lang.{data.get('lang') or ctx.lang}")))
    return lines


@dataclass(frozen=True)
class Steps:
    """The steps of one of the two flows (``flow`` is "registration" or "profile"; the card differs)."""

    flow: str
    editing: bool  # True for "profile": the card saves changes instead of registering

    def data(self, action: str, value: str, version: int) -> str:
        return encode(self.flow, action, value, version)

    # --- who: the role, and the adult confirmation -------------------------------------------------------------
    def who_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        roles = [Choice(t(ctx, f"who.{r}"), data=self.data("role", r, version)) for r in rules.ROLES]
        extra: list[Choice] = []
        if not self.editing:
            extra.append(Choice(t(ctx, "who.minor"), data=self.data("role", "minor", version)))
            other = "en" if ctx.lang == "ja" else "ja"
            extra.append(Choice(t(ctx, "lang.switch"), data=self.data("lang", other, version)))
        key = "who.ask_edit" if self.editing else "who.ask"
        return [Text(t(ctx, key), quick=(*roles, *extra, *nav(ctx, back=bool(data.get("_back")))))]

    def who_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        switched = self.switch_language(inp)
        if switched is not None and not self.editing:  # the purpose of what we ask, again, in the language chosen
            return replace(switched, say=(Text(t(switched.data["lang"], "intro")),))
        if switched is not None:
            return switched
        options = {r: both_languages(f"who.{r}") for r in rules.ROLES}
        options["guardian"] += ("保護者", "parent", "guardian")
        options["both"] += ("両方", "both")
        if not self.editing:
            options["minor"] = (*both_languages("who.minor"), "18歳未満", "未成年", "under 18")
        role = picked(inp, self.flow, "role", options)
        if role is None:
            return Retry(Text(t(ctx, "choose.role")))
        if role == "minor":
            return Finish(say=(Text(t(ctx, "who.minor_reply", phone=ctx.contact_phone)),))
        changed: dict[str, Any] = {"role": role}
        if role == "pregnant":
            changed["children"] = []  # data minimisation: nothing kept that the role no longer needs
        if role == "guardian":
            changed["due"] = None
        return Go(next_missing({**data, **changed}), changed)

    def switch_language(self, inp: Input) -> Go | None:
        lang = picked(inp, self.flow, "lang", {lang: both_languages(f"lang.{lang}") for lang in texts.LANGS})
        if lang is None:
            return None
        return Go(None, {"lang": lang, LANG_KEY: lang}, effects=(SetLanguage(lang),), remember=False)

    # --- name and ふりがな -------------------------------------------------------------------------------------------
    def name_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        return [Text(t(ctx, "name.ask"), quick=nav(ctx, back=bool(data.get("_back"))))]

    def name_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        parsed = rules.parse_name(inp.text)
        if isinstance(parsed, rules.Invalid):
            return Retry(Text(t(ctx, parsed.reason)))
        name, reading = parsed
        changed = {"name": name, "furigana": reading}
        return Go(next_missing({**data, **changed}), changed)

    def furigana_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        return [Text(t(ctx, "furigana.ask", name=data.get("name", "")), quick=nav(ctx))]

    def furigana_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        parsed = rules.parse_furigana(inp.text)
        if isinstance(parsed, rules.Invalid):
            return Retry(Text(t(ctx, parsed.reason)))
        return Go(next_missing({**data, "furigana": parsed}), {"furigana": parsed})

    # --- phone -------------------------------------------------------------------------------------------------
    def phone_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        return [Text(t(ctx, "phone.ask"), quick=nav(ctx))]

    def phone_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        parsed = rules.parse_phone(inp.text)
        if isinstance(parsed, rules.Invalid):
            return Retry(Text(t(ctx, parsed.reason)))
        return Go(next_missing({**data, "phone": parsed}), {"phone": parsed})

    # --- children: typed month, or a year button then a month button ------------------------------------------------
    def child_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        count = len(data.get("children") or ())
        text = t(ctx, "child.ask_more", n=count + 1) if count else t(ctx, "child.ask")
        years = tuple(
            Choice(t(ctx, "child.year_label", year=y), data=self.data("year", str(y), version))
            for y in rules.child_years(today(ctx))
        )
        return [Text(text, quick=(*years, *nav(ctx)))]

    def child_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        if inp.postback is not None:
            years = {str(y): () for y in rules.child_years(today(ctx))}
            year = picked(inp, self.flow, "year", years)
            if year is None:
                return Retry(Text(t(ctx, "choose.buttons")))
            return Go(Ask.CHILD_MONTH, {"_year": int(year)})
        month = rules.parse_month(inp.text)
        if month is None:
            return Retry(Text(t(ctx, "month.unreadable")))
        return self.add_child(ctx, data, *month)

    def add_child(self, ctx: Context, data: Mapping[str, Any], year: int, month: int) -> StepResult:
        problem = rules.child_month_problem(year, month, today(ctx))
        if problem:
            return Retry(Text(t(ctx, problem)))
        children = list(data.get("children") or ())
        if len(children) >= rules.MAX_CHILDREN:
            return Go(next_missing(data), say=(Text(t(ctx, "child.full", max=rules.MAX_CHILDREN)),))
        key = rules.month_key(year, month)
        changed = {"children": sorted([*children, key]), "_year": None}
        said = Text(t(ctx, "child.added", month=month_label(ctx, key)))
        return Go(next_missing({**data, **changed}), changed, say=(said,))

    def child_month_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        year = int(data.get("_year") or today(ctx).year)
        months = tuple(
            Choice(month_label(ctx, rules.month_key(year, m)), data=self.data("month", str(m), version))
            for m in rules.child_months_of_year(year, today(ctx))
        )
        return [Text(t(ctx, "child.month_ask", year=year), quick=(*months, nav(ctx)[0]))]

    def child_month_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        year = int(data.get("_year") or today(ctx).year)
        if inp.kind == "text":
            typed = rules.parse_month(inp.text)
            if typed is not None:
                return self.add_child(ctx, data, *typed)
            digits = "".join(ch for ch in normalize.text(inp.text) if ch in "0123456789")  # "5", "5月", "５"
            month = digits if 1 <= len(digits) <= 2 and 1 <= int(digits) <= 12 else None
        else:
            month = picked(inp, self.flow, "month", {str(m): () for m in range(1, 13)})
        if month is None:
            return Retry(Text(t(ctx, "choose.buttons")))
        return self.add_child(ctx, data, year, int(month))

    def children_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        children = sorted(data.get("children") or ())
        listing = "\n".join(f"・{t(ctx, 'line.child', month=month_label(ctx, m))}" for m in children)
        choices = [
            Choice(t(ctx, "children.remove", month=month_label(ctx, m)), data=self.data("remove", m, version))
            for m in children
        ]
        if len(children) < rules.MAX_CHILDREN:
            choices.insert(0, Choice(t(ctx, "children.add"), data=self.data("add", "", version)))
        choices.append(Choice(t(ctx, "children.done"), data=self.data("done", "", version)))
        return [Text(t(ctx, "children.ask", list=listing or t(ctx, "children.none")), quick=(*choices, *nav(ctx)))]

    def children_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        children = sorted(data.get("children") or ())
        pb = inp.postback
        if pb is not None and pb.flow == self.flow and pb.action == "remove" and pb.value in children:
            children.remove(pb.value)
            return Go(None, {"children": children}, remember=False)
        if picked(inp, self.flow, "add", {"": both_languages("children.add")}) is not None:
            return Go(Ask.CHILD)
        if picked(inp, self.flow, "done", {"": both_languages("children.done")}) is not None:
            if is_guardian(data) and not children:
                return Retry(Text(t(ctx, "children.need_one")))
            return Go(next_missing(data))
        return Retry(Text(t(ctx, "choose.buttons")))

    # --- due month -----------------------------------------------------------------------------------------------
    def due_months(self, ctx: Context) -> list[str]:
        first, _ = rules.due_month_range(today(ctx))
        return [rules.month_key(*rules.add_months(*first, n)) for n in range(rules.DUE_MONTHS_AHEAD + 1)]

    def due_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        months = tuple(Choice(month_label(ctx, m), data=self.data("due", m, version)) for m in self.due_months(ctx))
        return [Text(t(ctx, "due.ask"), quick=(*months, *nav(ctx)))]

    def due_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        if inp.postback is not None:
            key = picked(inp, self.flow, "due", {m: () for m in self.due_months(ctx)})
            if key is None:
                return Retry(Text(t(ctx, "choose.buttons")))
        else:
            month = rules.parse_month(inp.text)
            if month is None:
                return Retry(Text(t(ctx, "month.unreadable")))
            problem = rules.due_month_problem(*month, today(ctx))
            if problem:
                return Retry(Text(t(ctx, problem)))
            key = rules.month_key(*month)
        said = Text(t(ctx, "due.saved", month=month_label(ctx, key)))
        return Go(next_missing({**data, "due": key}), {"due": key}, say=(said,))

    # --- centre --------------------------------------------------------------------------------------------------
    def centre_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        choices = [Choice(t(ctx, f"centre.{c}"), data=self.data("centre", c, version)) for c in rules.CENTRES]
        can_add = is_guardian(data) and len(data.get("children") or ()) < rules.MAX_CHILDREN
        if can_add:
            choices.append(Choice(t(ctx, "children.add"), data=self.data("add", "", version)))
        return [Text(t(ctx, "centre.ask_more" if can_add else "centre.ask"), quick=(*choices, *nav(ctx)))]

    def centre_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        if is_guardian(data) and picked(inp, self.flow, "add", {"": both_languages("children.add")}) is not None:
            return Go(Ask.CHILD)
        centre = picked(inp, self.flow, "centre", {c: both_languages(f"centre.{c}") for c in rules.CENTRES})
        if centre is None:
            return Retry(Text(t(ctx, "choose.centre")))
        return Go(next_missing({**data, "centre": centre}), {"centre": centre})

    # --- the card: check, change any field, save -------------------------------------------------------------------
    def changed(self, data: Mapping[str, Any]) -> bool:
        return not self.editing or data.get("_saved") != snapshot(data)

    def confirm_prompt(self, ctx: Context, data: Mapping[str, Any], version: int) -> list[Reply]:
        lines = summary_lines(ctx, data)
        if self.editing:
            title, save_key = t(ctx, "review.title"), "review.save"
            lines.append(t(ctx, "review.changed" if self.changed(data) else "review.note"))
        else:
            title, save_key = t(ctx, "confirm.title"), "confirm.save"
            lines += [t(ctx, "who.adult_line"), t(ctx, "confirm.note")]
        save = Choice(t(ctx, save_key), data=self.data("save", "", version))
        close = Choice(t(ctx, "review.close"), data=self.data("close", "", version))
        buttons = (save,) if self.changed(data) else (close,)
        fields = [
            "role",
            "name",
            "phone",
            *(["children"] if is_guardian(data) else []),
            *(["due"] if is_pregnant(data) else []),
            "centre",
        ]
        edits = [Choice(t(ctx, f"edit.{f}"), data=self.data("edit", f, version)) for f in fields]
        other = "en" if (data.get("lang") or ctx.lang) == "ja" else "ja"
        edits.append(Choice(t(ctx, f"lang.{other}"), data=self.data("lang", other, version)))
        quick = (*buttons, *edits, *nav(ctx, back=False))
        return [Card(title=title, lines=tuple(lines), buttons=buttons, alt=title, quick=quick)]

    def confirm_accept(self, ctx: Context, data: Mapping[str, Any], inp: Input) -> StepResult:
        switched = self.switch_language(inp)
        if switched is not None:
            return switched
        missing = next_missing(data)
        if missing != Ask.CONFIRM:  # only reachable with a hand-made state; ask what is missing
            return Go(missing)
        edit = picked(inp, self.flow, "edit", {f: () for f in EDITS})
        if edit is not None:
            return Go(EDITS[edit])
        save_words = both_languages("confirm.save") + both_languages("review.save")
        if picked(inp, self.flow, "save", {"": save_words}) is not None and self.changed(data):
            return self.save(ctx, data)
        if picked(inp, self.flow, "close", {"": both_languages("review.close")}) is not None and self.editing:
            return Finish(say=(Text(t(ctx, "closed.profile")), texts.menu(ctx)))
        return Retry(Text(t(ctx, "choose.buttons")))

    def save(self, ctx: Context, data: Mapping[str, Any]) -> Finish:
        lang = data.get("lang") or ctx.lang
        effects = (profile_from(data), SetLanguage(lang))
        if self.editing:
            return Finish(say=(Text(t(ctx, "saved.profile")), texts.menu(ctx)), effects=effects)
        return Finish(say=(Text(t(ctx, "saved.registration")),), effects=effects, then="consent")

    def table(self) -> dict[str, Step]:
        either = frozenset({"postback", "text"})
        typed = frozenset({"text"})
        return {
            Ask.WHO: Step(self.who_prompt, self.who_accept, either, help_hint="help.who", choice=True),
            Ask.NAME: Step(self.name_prompt, self.name_accept, typed, help_hint="help.name"),
            Ask.FURIGANA: Step(self.furigana_prompt, self.furigana_accept, typed, help_hint="help.furigana"),
            Ask.PHONE: Step(self.phone_prompt, self.phone_accept, typed, help_hint="help.phone"),
            Ask.CHILD: Step(self.child_prompt, self.child_accept, either, help_hint="help.child"),
            Ask.CHILD_MONTH: Step(
                self.child_month_prompt, self.child_month_accept, either, help_hint="help.child", choice=True
            ),
            Ask.CHILDREN: Step(self.children_prompt, self.children_accept, either, help_hint="help.child", choice=True),
            Ask.DUE: Step(self.due_prompt, self.due_accept, either, help_hint="help.due"),
            Ask.CENTRE: Step(self.centre_prompt, self.centre_accept, either, help_hint="help.centre", choice=True),
            Ask.CONFIRM: Step(self.confirm_prompt, self.confirm_accept, either, help_hint="help.confirm", choice=True),
        }


def _not_again(ctx: Context) -> list[Reply] | None:
    return [Text(t(ctx, "already")), texts.menu(ctx)] if ctx.registered else None


def _intro(ctx: Context) -> list[Reply]:
    return [Text(t(ctx, "intro"))]


FLOW = Flow(
    name="registration",
    start=Ask.WHO,
    steps=Steps("registration", editing=False).table(),
    # Not "登録する" / "register": those are the card's own answers, and typed there they must save, not restart.
    keywords=frozenset({"登録", "とうろく", "registration"}),
    title_key="title.registration",
    guard=_not_again,
    intro=_intro,
    catalog=TEXTS,
)
