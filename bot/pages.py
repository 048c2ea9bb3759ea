"""Small public pages: the health check and the policy text."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from handlers.policy_text import POLICY_TEXT, policy_hash
from storage.db import ping

bp = Blueprint("pages", __name__)


@bp.get("/healthz")
def healthz():
    ok = ping()
    return jsonify(status="ok" if ok else "unavailable", database=ok), (200 if ok else 503)


@bp.get("/policy")
def policy():
    return render_template("policy.html", text=POLICY_TEXT, version=policy_hash()[:12])
