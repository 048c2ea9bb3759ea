"""The staff console (``/staff/...``): a blueprint for the division and the centres.

Every request passes ``authorize`` first: the view's declared permission (deny when there is none), then the
signed-in actor and their role. Each area's views live in their own module, imported at the end.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from bot.staff import auth, labels

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
def authorize():
    permission = auth.declared_permission(request.endpoint)
    if permission is None:
        abort(403)
    g.staff_actor = actor = auth.load_actor()
    if permission == auth.PUBLIC:
        return None
    if actor is None:
        if request.method == "GET":
            session["staff_next"] = request.path
        return redirect(url_for("staff.login"))
    if not actor.can(permission):
        abort(403)
    return None


@bp.context_processor
def template_values():
    return {"actor": g.get("staff_actor"), **labels.template_values()}


bp.add_app_template_filter(labels.tokyo, "tokyo")
bp.add_app_template_filter(labels.tokyo_date, "tokyo_date")
bp.add_app_template_filter(labels.tokyo_time, "tokyo_time")
bp.add_app_template_filter(labels.age, "age")


@bp.errorhandler(403)
def forbidden(_error):
    return render_template("staff/error.html", status=403), 403


@bp.errorhandler(404)
def not_found(_error):
    return render_template("staff/error.html", status=404), 404


from bot.staff import (  # noqa: E402,F401  (the views register themselves on bp)
    account,
    audit_log,
    broadcasts,
    escalations,
    events,
    login,
    members,
    parents,
    participants,
    policy,
    routing,
    sanctions,
    statistics,
    today,
)
