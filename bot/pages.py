"""Small public pages: the health check and the policy text."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from handlers.policy_text import POLICY_TEXT, policy_hash
from storage import people
from storage.db import ping, unit_of_work

bp = Blueprint("pages", __name__)


@bp.get("/healthz")
def healthz():
    ok = ping()  # the main database and, on SQLite, the inbox's own file
    return jsonify(status="ok" if ok else "unavailable", database=ok), (200 if ok else 503)


@bp.get("/policy")
def policy():
    """The policy in force: the newest published version (staff can publish one), else the shipped text."""
    with unit_of_work() as session:
        current = people.current_policy(session)
        text, digest = (current.text, current.content_hash) if current else (POLICY_TEXT, policy_hash())
    return render_template("policy.html", text=text, version=digest[:12])
