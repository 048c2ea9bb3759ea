"""監査ログ shows each recorded action in Japanese: every action the code records has a label in
bot/staff/labels.py (an unlabelled one showed its code, e.g. ``escalation.created``, to staff)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.staff.labels import ACTION_LABELS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for folder in ("bot", "handlers", "services", "runtime", "scheduler", "storage")
    for p in (ROOT / folder).rglob("*.py")
]
LITERAL = re.compile(r"""action=\s*["']([a-z_]+\.[a-z_]+)["']""")  # audit.record(..., action="parent.view")
ROUTING = re.compile(r"""_record\(\s*s,\s*["']([a-z_]+\.[a-z_]+)["']""")  # bot/staff/routing.py
ESCALATION = re.compile(r"""reports\.record\(\s*session,\s*escalation,\s*["']([a-z_]+)["']""")  # escalation.<x>
LOAN_OUTCOMES = ("approved", "declined")  # reports.record(..., f"loan_{escalation.outcome}")


def recorded_actions() -> set[str]:
    found: set[str] = {f"escalation.loan_{outcome}" for outcome in LOAN_OUTCOMES}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        found.update(LITERAL.findall(text))
        found.update(ROUTING.findall(text))
        found.update(f"escalation.{name}" for name in ESCALATION.findall(text))
    return found


def test_every_recorded_action_has_a_japanese_label():
    actions = recorded_actions()
    assert {"staff.login", "escalation.created", "rota.slot_added"} <= actions, "the scan finds the actions"
    assert sorted(actions - ACTION_LABELS.keys()) == []
