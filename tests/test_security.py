"""Web security of the whole app: every staff route declares a permission and is refused to whoever lacks it (the
matrix below, discovered from app.url_map), every POST needs a CSRF token, cookies and headers are set right."""

from __future__ import annotations

import re

import pytest

from bot.staff.auth import PERMISSIONS, PUBLIC
from storage import broadcasts, enrollments, events, reports, sanctions, staff
from storage.clock import now
from storage.db import unit_of_work
from storage.models import Parent, StaffMember


def staff_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")]


def test_every_staff_route_declares_a_permission(app):
    undeclared = [
        r.endpoint
        for r in staff_rules(app)
        if getattr(app.view_functions[r.endpoint], "staff_permission", None) not in (PUBLIC, *PERMISSIONS)
    ]
    assert staff_rules(app) and undeclared == []


def test_a_view_without_a_declared_permission_is_refused_even_to_an_administrator(app, console):
    client, _ = console("admin")
    assert client.get("/staff/today").status_code == 200
    app.view_functions["staff.today"] = lambda: "no permission declared"
    assert client.get("/staff/today").status_code == 403


# --- the authorization matrix ------------------------------------------------------------------------------------
# Every staff endpoint, in the words of the roles (independent of bot.staff.auth's table, so a wrong entry there
# shows up here): who may get a 2xx from it. "record" endpoints act on a record of centre A (minamihoncho).
#   public: anyone; read: any active staff; read_record: staff and viewers of the record's centre, and admins;
#   write: centre staff and admins; write_record: centre staff of the record's centre and admins; admin: admins.
ACCESS = {
    "staff.login": "public",
    "staff.login_totp": "public",
    "staff.home": "read",
    "staff.today": "read",
    "staff.events": "read",
    "staff.parents": "read",
    "staff.parents_search": "read",
    "staff.policy": "read",
    "staff.account": "read",
    "staff.logout": "read",
    "staff.change_password": "read",
    "staff.end_other_sessions": "read",
    "staff.totp_begin": "read",
    "staff.totp_setup": "read",
    "staff.totp_disable": "read",
    "staff.statistics_page": "read",
    "staff.statistics_csv": "read",
    "staff.statistics_xlsx": "read",
    "staff.event": "read_record",
    "staff.event_participants": "read_record",
    "staff.event_participants_csv": "read_record",
    "staff.parent": "read_record",
    "staff.event_new": "write",
    "staff.event_copy": "write_record",
    "staff.event_edit": "write_record",
    "staff.event_publish": "write_record",
    "staff.event_cancel": "write_record",
    "staff.event_attendance": "write_record",
    "staff.enrollment_approve": "write_record",
    "staff.enrollment_decline": "write_record",
    "staff.enrollment_reissue": "write_record",
    "staff.enrollment_remove": "write_record",
    "staff.parent_correct": "write_record",
    "staff.parent_suspend": "write_record",
    "staff.parent_bar": "write_record",
    "staff.sanction_lift": "write_record",
    "staff.event_rotate": "write_record",
    "staff.escalations": "read",
    "staff.escalation": "read_record",
    "staff.escalation_acknowledge": "write_record",
    "staff.escalation_instruct": "write_record",
    "staff.escalation_resolve": "write_record",
    "staff.escalation_loan": "write_record",
    "staff.parent_export_json": "admin",
    "staff.parent_export_csv": "admin",
    "staff.parent_erase": "admin",
    "staff.policy_publish": "admin",
    "staff.audit_log": "admin",
    "staff.audit_export": "admin",
    "staff.members": "admin",
    "staff.member_new": "admin",
    "staff.member_edit": "admin",
    "staff.member_disable": "admin",
    "staff.member_enable": "admin",
    "staff.member_end_sessions": "admin",
    "staff.member_password": "admin",
    "staff.member_totp_reset": "admin",
    "staff.member_unlock": "admin",
    "staff.member_invite": "admin",
    "staff.broadcasts_page": "read",
    "staff.broadcast": "read_record",
    "staff.broadcast_new": "write",
    "staff.broadcast_approve": "write_record",
    "staff.broadcast_cancel": "write_record",
    "staff.routing_page": "read",
    "staff.routing_centre": "read_record",
    "staff.routing_slot_add": "write_record",
    "staff.routing_slot_remove": "write_record",
    "staff.routing_exception_add": "write_record",
    "staff.routing_exception_remove": "write_record",
    "staff.routing_override": "write_record",
    "staff.routing_route_add": "admin",
    "staff.routing_route_remove": "admin",
}
MAY_GET_2XX = {
    "anonymous": {"public"},
    "disabled": {"public"},
    "viewer_same_centre": {"public", "read", "read_record"},
    "staff_other_centre": {"public", "read", "write"},
    "admin": set(ACCESS.values()),
}


@pytest.fixture
def records(app, staff_factory, parent_factory, event_factory):
    """A record of each kind, all of centre A, for filling in the routes' ids."""
    parent_id = parent_factory(centre="minamihoncho")
    event_id = event_factory(centre="minamihoncho")
    target = staff_factory("staff", "minamihoncho")
    with unit_of_work() as s:
        applied = enrollments.apply(s, events.get(s, event_id), parent_id)
        sanction = sanctions.impose(s, parent_id, policy_items=["6-(3)"], created_by="test", event_id=event_id)
        escalation = reports.create_escalation(
            s, kind="lost_credentials", reference="R-MATRIX", parent_id=parent_id, centre="minamihoncho"
        )
        reports.add_report(
            s, escalation, lost="join_link", lost_when="today", misuse="no", event_ids=[event_id], note="", held=[]
        )
        broadcast = broadcasts.create(
            s,
            audience=broadcasts.Audience("centre", "minamihoncho"),
            text="お知らせ",
            card_event_id=None,
            image_url=None,
            urgent=False,
            send_at=now(),
            author_id=target.id,
            estimated=0,
            needs_approval=True,
        )
        return {
            "event_id": event_id,
            "parent_id": parent_id,
            "enrollment_id": applied.enrollment.id,
            "sanction_id": sanction.id,
            "member_id": target.id,
            "escalation_id": escalation.id,
            "table": "events",
            "broadcast_id": broadcast.id,
            "centre": "minamihoncho",
            "route_id": 1,
            "slot_id": 1,
            "exception_id": 1,
        }


def identities(app, staff_factory, sign_in):
    def signed_in(role, centre):
        client = app.test_client()
        assert sign_in(client, staff_factory(role, centre)).status_code == 302
        return client

    disabled_client = app.test_client()
    disabled = staff_factory("staff", "minamihoncho")
    assert sign_in(disabled_client, disabled).status_code == 302
    with unit_of_work() as s:
        staff.set_active(s, s.get(StaffMember, disabled.id), False)
    return {
        "anonymous": app.test_client(),
        "disabled": disabled_client,
        "viewer_same_centre": signed_in("viewer", "minamihoncho"),
        "staff_other_centre": signed_in("staff", "takanedai"),
        "admin": signed_in("admin", "division"),
    }


def test_the_matrix_covers_every_staff_route(app):
    assert {r.endpoint for r in staff_rules(app)} == set(ACCESS)


def test_authorization_matrix_has_no_unexpected_success(app, records, staff_factory, sign_in, csrf_token):
    clients = identities(app, staff_factory, sign_in)
    unexpected = []
    for who, client in clients.items():
        token = csrf_token(client, "/staff/login")
        # Sign-out last: it ends the identity's session.
        rules = sorted(staff_rules(app), key=lambda r: r.endpoint == "staff.logout")
        for rule in rules:
            url = rule.build({k: v for k, v in records.items() if k in rule.arguments})[1]
            allowed = ACCESS[rule.endpoint] in MAY_GET_2XX[who]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if who == "admin" and method == "POST":
                    continue  # the administrator's changes are exercised in tests/test_staff_*.py
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, data={"csrf_token": token})
                if 200 <= response.status_code < 300 and not allowed:
                    unexpected.append((who, method, rule.endpoint, response.status_code))
                if who == "admin" and method == "GET" and rule.endpoint not in ("staff.login_totp",):
                    assert response.status_code in (200, 302), (rule.endpoint, response.status_code)
    assert unexpected == []


def test_a_refused_request_changes_nothing(app, records, console, csrf_token):
    client, _ = console("viewer", "minamihoncho")
    token = csrf_token(client, "/staff/today")
    assert (
        client.post(
            f"/staff/parents/{records['parent_id']}/erase", data={"csrf_token": token, "confirm": "y"}
        ).status_code
        == 403
    )
    other, _ = console("staff", "takanedai")
    token = csrf_token(other, "/staff/today")
    assert (
        other.post(
            f"/staff/parents/{records['parent_id']}/suspend", data={"csrf_token": token, "confirm": "y"}
        ).status_code
        == 404
    )
    with unit_of_work() as s:
        assert s.get(Parent, records["parent_id"]).name == "船橋 花子"
    assert client.get(f"/staff/parents/{records['parent_id']}").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/staff/parents")
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")


# --- CSRF --------------------------------------------------------------------------------------------------------
EXEMPT = {"/callback"}


def test_every_post_route_refuses_a_missing_csrf_token(app, console, records):
    client, _ = console("admin")
    posts = [
        r
        for r in app.url_map.iter_rules()
        if "POST" in r.methods and r.rule not in EXEMPT and not r.endpoint.startswith("simulator.")
    ]
    assert len(posts) > 20
    accepted = []
    for rule in posts:
        values = {**records, "token": "x" * 43}
        url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        response = client.post(url, data={"confirm": "y"})
        if response.status_code != 400 or "送信を受け付けられませんでした" not in response.get_data(as_text=True):
            accepted.append((rule.rule, response.status_code))
    assert accepted == []


def test_a_wrong_csrf_token_is_refused_and_the_webhook_is_exempt(console, client):
    staff_client, _ = console("admin")
    assert staff_client.post("/staff/logout", data={"csrf_token": "forged"}).status_code == 400
    # The webhook answers on its own terms (signature), not with a CSRF refusal.
    assert client.post("/callback", data=b"{}", headers={"X-Line-Signature": "bad"}).status_code == 400
    assert "送信を受け付けられませんでした" not in client.post("/callback", data=b"{}").get_data(as_text=True)


# --- cookies, headers ---------------------------------------------------------------------------------------------
def test_session_cookie_is_secure_httponly_and_lax_when_served_over_https(client, staff_factory, sign_in):
    response = sign_in(client, staff_factory("staff", "takanedai"))
    cookies = response.headers.getlist("Set-Cookie")  # the session's, and the device cookie (test_staff_signin_devices)
    assert [c.split("=")[0] for c in cookies] == ["kosodate_staff_device", "__Host-kosodate"]
    cookie = cookies[1]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Expires" not in cookie  # a browser-session cookie: the server ends the session itself


def test_without_https_the_cookie_is_not_marked_secure_and_no_hsts(database_url, line):
    from bot.app import create_app

    app = create_app(
        {
            "mode": "test",
            "database_url": database_url,
            "public_base_url": "http://127.0.0.1:5000",
            "line_api_base_url": line.base_url,
            "inline_processing": False,
        }
    )
    try:
        response = app.test_client().get("/staff/login")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("kosodate=") and "Secure" not in cookie and "HttpOnly" in cookie
        assert "Strict-Transport-Security" not in response.headers
    finally:
        app.extensions["kosodate"].close()


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/staff/login"),
        ("get", "/staff/today"),
        ("get", "/policy"),
        ("get", "/healthz"),
        ("get", "/no-such-page"),
        ("post", "/callback"),
        ("get", "/j/" + "x" * 43),
    ],
)
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path)
    headers = response.headers
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Server" not in headers and "X-Powered-By" not in headers


def test_staff_pages_are_not_cached_and_send_forms_only_to_themselves(console):
    client, _ = console("admin")
    response = client.get("/staff/today")
    assert response.headers["Cache-Control"] == "no-store"
    assert "form-action 'self'" in response.headers["Content-Security-Policy"]


def test_pages_use_no_inline_script_or_style(console, records):
    client, _ = console("admin")
    for path in (
        "/staff/today",
        f"/staff/parents/{records['parent_id']}",
        f"/staff/events/{records['event_id']}",
        f"/staff/events/{records['event_id']}/participants",
        "/staff/policy",
        "/staff/audit",
    ):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "style=" not in html and "<style" not in html, path


def test_output_is_escaped(console, parent_factory):
    parent_id = parent_factory(name="<script>alert(1)</script>", centre="minamihoncho")
    client, _ = console("admin")
    html = client.get(f"/staff/parents/{parent_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_parents_search_text_never_appears_in_a_url_or_the_audit_trail(console, csrf_token, parent_factory):
    parent_factory(name="習志野 太郎", furigana="ならしの たろう", phone="09011112222")
    client, _ = console("admin")
    token = csrf_token(client, "/staff/parents")
    assert client.get("/staff/parents/search").status_code == 405  # searches are POSTed, never in a query string
    response = client.post("/staff/parents/search", data={"csrf_token": token, "q": "ならしの"})
    assert "習志野 太郎" in response.get_data(as_text=True)
    for href in re.findall(r'href="([^"]+)"', response.get_data(as_text=True)):
        assert "ならしの" not in href and "習志野" not in href
    with unit_of_work() as s:
        from storage import audit

        trail = audit.search(s, audit.Filter(action_prefix="parent.search"))
    assert trail and all("ならしの" not in str(e.details) for e in trail)


def test_the_divisions_own_staff_see_every_centre_and_a_viewer_there_still_only_reads(console, records):
    client, _ = console("viewer", "division")
    assert client.get(f"/staff/parents/{records['parent_id']}").status_code == 200
    assert client.get(f"/staff/events/{records['event_id']}/edit").status_code == 403


def test_behind_a_trusted_proxy_the_client_address_and_https_come_from_its_headers(
    database_url, line, staff_factory, csrf_token
):
    from bot.app import create_app

    app = create_app(
        {
            "mode": "test",
            "database_url": database_url,
            "public_base_url": "https://bot.example.test",
            "line_api_base_url": line.base_url,
            "inline_processing": False,
            "trusted_proxies": 1,
        }
    )
    try:
        account = staff_factory("staff", "takanedai")
        client = app.test_client()

        def attempt(password: str, address: str, browser=client):
            token = csrf_token(browser)
            return browser.post(
                "/staff/login",
                data={"csrf_token": token, "login": account.login, "password": password},
                headers={
                    "X-Forwarded-For": address,
                    "X-Forwarded-Proto": "https",
                    "Referer": "https://localhost/staff/login",
                },
            )

        owners_browser = app.test_client()  # signed in before: its device cookie spares it the account-wide delay
        assert attempt(account.password, "203.0.113.10", owners_browser).status_code == 302
        owners_browser.post(
            "/staff/logout",
            data={"csrf_token": csrf_token(owners_browser, "/staff/account")},
            headers={"X-Forwarded-Proto": "https", "Referer": "https://localhost/staff/account"},
        )
        for n in range(30):
            assert attempt(f"wrong password {n}", "203.0.113.9").status_code == 401
        assert attempt(account.password, "203.0.113.9", owners_browser).status_code == 429
        assert attempt(account.password, "203.0.113.10", owners_browser).status_code == 302
        # Seen as HTTPS, the CSRF check also wants a same-origin Referer.
        token = csrf_token(owners_browser, "/staff/today")
        refused = owners_browser.post(
            "/staff/logout", data={"csrf_token": token}, headers={"X-Forwarded-Proto": "https"}
        )
        assert refused.status_code == 400
    finally:
        app.extensions["kosodate"].close()
