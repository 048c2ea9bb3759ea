"""Signing in to the staff console: argon2id passwords, progressive delays, server-side sessions (regenerated at login, idle
and absolute limits, revocable), the optional TOTP second factor, and the `kosodate staff` commands."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyotp
import time_machine
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select

from bot.cli import cli
from storage import audit, crypto, login_throttle, staff
from storage.clock import now
from storage.db import unit_of_work
from storage.models import LoginThrottle, StaffMember, StaffSession
from tests.conftest import STAFF_PASSWORD


def member(account_id: int) -> StaffMember:
    with unit_of_work() as s:
        found = s.get(StaffMember, account_id)
        s.expunge(found)
        return found


# --- passwords ---------------------------------------------------------------------------------------------------
def test_passwords_are_stored_as_argon2id_with_the_recommended_parameters(app):
    assert staff.HASHER.type is Type.ID and staff.HASHER.memory_cost >= 19 * 1024 and staff.HASHER.time_cost >= 2
    with unit_of_work() as s:
        created = staff.create_member(
            s, name="管理者", login="Admin@City.Example", centre="division", role="admin", password=STAFF_PASSWORD
        )
        assert created.login == "admin@city.example"
        assert created.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert STAFF_PASSWORD not in created.password_hash
        assert staff.check_password(created, STAFF_PASSWORD) and not staff.check_password(created, "wrong password!")


def test_a_hash_with_old_parameters_is_upgraded_at_the_next_sign_in(app, staff_factory, monkeypatch):
    account = staff_factory("admin")  # hashed with the cheap test parameters
    monkeypatch.setattr(staff, "HASHER", PasswordHasher())
    with unit_of_work() as s:
        found = s.get(StaffMember, account.id)
        old = found.password_hash
        assert staff.check_password(found, account.password)
        assert found.password_hash != old and found.password_hash.startswith("$argon2id$v=19$m=65536,t=3")


def test_short_and_monotonous_passwords_are_refused():
    assert staff.password_problem("short")
    assert staff.password_problem("aaaaaaaaaaaaaaaa")
    assert staff.password_problem("x" * 200)
    assert staff.password_problem("夏の交流会は楽しかったです") is None


# --- signing in --------------------------------------------------------------------------------------------------
def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(client, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    wrong = sign_in(client, account, password="not the password")
    unknown = sign_in(client, type(account)(login="nobody@city.example", password="whatever it is"))
    assert wrong.status_code == unknown.status_code == 401
    assert "ログインIDまたはパスワードが違います" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("違います") == unknown.get_data(as_text=True).count("違います")


def test_signing_in_regenerates_the_session(client, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "minamihoncho")
    before_token = csrf_token(client)
    before_cookie = client.get_cookie("__Host-kosodate").value
    assert sign_in(client, account).status_code == 302
    after_cookie = client.get_cookie("__Host-kosodate").value
    assert after_cookie != before_cookie
    # The form token of the anonymous page no longer works: the session it belonged to is gone.
    assert client.post("/staff/logout", data={"csrf_token": before_token}).status_code == 400
    # A stolen pre-login cookie grants nothing.
    stranger = client.application.test_client()
    stranger.set_cookie("__Host-kosodate", before_cookie)
    assert stranger.get("/staff/today").status_code == 302


def test_a_successful_sign_in_lands_where_the_member_was_going(client, staff_factory, sign_in):
    account = staff_factory("admin")
    client.get("/staff/policy")
    response = sign_in(client, account)
    assert response.headers["Location"].endswith("/staff/policy")


def test_sign_in_and_sign_out_are_audited_and_signing_out_ends_the_server_session(
    client, staff_factory, sign_in, csrf_token
):
    account = staff_factory("viewer", "takanedai")
    sign_in(client, account)
    cookie = client.get_cookie("__Host-kosodate").value
    assert client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/today")}).status_code == 302
    replay = client.application.test_client()
    replay.set_cookie("__Host-kosodate", cookie)  # the cookie from before signing out, replayed
    assert replay.get("/staff/today").status_code == 302
    with unit_of_work() as s:
        actions = [e.action for e in audit.search(s, audit.Filter(subject_type="staff", subject_id=str(account.id)))]
        assert actions[:2] == ["staff.logout", "staff.login"]
        assert s.scalar(select(StaffSession.end_reason).where(StaffSession.staff_id == account.id)) == "logout"


def test_a_disabled_member_cannot_sign_in(client, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai", active=False)
    assert sign_in(client, account).status_code == 401


def test_disabling_a_member_ends_their_sessions_at_once(app, console, staff_factory, sign_in, csrf_token):
    target = staff_factory("staff", "minamihoncho")
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        sign_in(browser, target)
        assert browser.get("/staff/today").status_code == 200
    admin, _ = console("admin")
    token = csrf_token(admin, f"/staff/members/{target.id}")
    assert admin.post(f"/staff/members/{target.id}/disable", data={"csrf_token": token}).status_code == 302
    for browser in browsers:
        assert browser.get("/staff/today").status_code == 302
    with unit_of_work() as s:
        reasons = s.scalars(select(StaffSession.end_reason).where(StaffSession.staff_id == target.id)).all()
    assert reasons == ["disabled", "disabled"]


def test_the_last_administrator_cannot_be_disabled(console, csrf_token):
    admin, account = console("admin")
    token = csrf_token(admin, f"/staff/members/{account.id}")
    admin.post(f"/staff/members/{account.id}/disable", data={"csrf_token": token})
    assert member(account.id).active and admin.get("/staff/today").status_code == 200


def test_an_idle_session_ends_after_30_minutes(client, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        sign_in(client, account)
        traveller.shift(timedelta(minutes=29))
        assert client.get("/staff/today").status_code == 200
        traveller.shift(timedelta(minutes=29))
        assert client.get("/staff/today").status_code == 200  # still active: each request counts
        traveller.shift(timedelta(minutes=31))
        assert client.get("/staff/today").status_code == 302


def test_a_session_ends_after_8_hours_however_active(client, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        sign_in(client, account)
        for _ in range(16):
            traveller.shift(timedelta(minutes=29, seconds=59))
            assert client.get("/staff/today").status_code == 200
        traveller.shift(timedelta(minutes=5))  # 8 h 04 min after signing in
        assert client.get("/staff/today").status_code == 302
    with unit_of_work() as s:
        assert s.scalar(select(StaffSession.end_reason).where(StaffSession.staff_id == account.id)) == "expired"


def test_a_member_can_end_their_other_sessions(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("viewer", "minamihoncho")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, account)
    sign_in(elsewhere, account)
    here.post("/staff/account/sessions/end-others", data={"csrf_token": csrf_token(here, "/staff/account")})
    assert here.get("/staff/today").status_code == 200
    assert elsewhere.get("/staff/today").status_code == 302


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, account)
    sign_in(elsewhere, account)
    new = "a brand new passphrase"
    token = csrf_token(here, "/staff/account")
    refused = here.post(
        "/staff/account/password", data={"csrf_token": token, "current": "wrong guess here", "new": new, "confirm": new}
    )
    assert refused.status_code == 400 and "いまのパスワードが違います" in refused.get_data(as_text=True)
    here.post(
        "/staff/account/password", data={"csrf_token": token, "current": account.password, "new": new, "confirm": new}
    )
    assert here.get("/staff/today").status_code == 200
    assert elsewhere.get("/staff/today").status_code == 302
    assert sign_in(app.test_client(), account).status_code == 401
    assert sign_in(app.test_client(), account, password=new).status_code == 302


# --- throttling (OWASP: progressive delays per account and address, never a lockout) --------------------------
def test_failures_from_elsewhere_never_keep_the_owner_out(app, staff_factory, sign_in, csrf_token):
    from tests.test_staff_signin_devices import device_browser

    account = staff_factory("admin")
    owners_browser = device_browser(app, account, sign_in, csrf_token)
    attacker = app.test_client()
    with time_machine.travel(now(), tick=False):
        # Someone who knows the work e-mail address tries 120 passwords from 60 addresses within the hour.
        for n in range(120):
            answer = sign_in(attacker, account, password=f"guess number {n}", address=f"10.0.{n // 2}.1")
            assert answer.status_code in (401, 429)
        # The owner, from their own browser, still gets in with the right password (tests/test_staff_signin_devices.py).
        assert sign_in(owners_browser, account, address="192.0.2.10").status_code == 302


def test_each_further_failure_from_one_address_waits_longer(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    client = app.test_client()
    with time_machine.travel(now(), tick=False) as traveller:
        for n in range(login_throttle.PAIR_FREE):
            assert sign_in(client, account, password=f"wrong password {n}", address="203.0.113.7").status_code == 401
        refused = sign_in(client, account, address="203.0.113.7")  # even the right password must wait
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "あと1秒ほどログインできません" in refused.get_data(as_text=True)
        traveller.shift(timedelta(seconds=1))
        assert sign_in(client, account, password="wrong again, sadly", address="203.0.113.7").status_code == 401
        traveller.shift(timedelta(seconds=1))
        assert sign_in(client, account, address="203.0.113.7").headers["Retry-After"] == "1"  # now 2 s in all
        traveller.shift(timedelta(seconds=1))
        assert sign_in(client, account, address="203.0.113.7").status_code == 302
        # Success starts the pair again: the next typo is answered at once, not delayed.
        assert sign_in(app.test_client(), account, password="one more typo!", address="203.0.113.7").status_code == 401


def test_the_delay_doubles_and_stops_growing_at_15_minutes():
    free = login_throttle.PAIR_FREE
    assert login_throttle.delay(free - 1, free) == timedelta(0)
    assert [login_throttle.delay(free + n, free).total_seconds() for n in range(4)] == [1, 2, 4, 8]
    assert login_throttle.delay(free + 40, free) == timedelta(minutes=15)


def test_one_address_trying_many_logins_is_delayed_but_others_are_not(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    client = app.test_client()
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.ADDRESS_FREE):
            stranger = type(account)(login=f"guess{n}@city.example", password="password guess")
            assert sign_in(client, stranger, address="203.0.113.7").status_code == 401
        assert sign_in(client, account, address="203.0.113.7").status_code == 429
        assert sign_in(client, account, address="203.0.113.8").status_code == 302


def test_a_rotating_x_forwarded_for_does_not_escape_the_limit(app, staff_factory, csrf_token):
    """TRUSTED_PROXIES=0 (the test app): the header is ignored, the connection's address counts."""
    account = staff_factory("staff", "minamihoncho")
    client = app.test_client()

    def attempt(password: str, n: int):
        return client.post(
            "/staff/login",
            data={"csrf_token": csrf_token(client), "login": account.login, "password": password},
            environ_base={"REMOTE_ADDR": "198.51.100.20"},
            headers={"X-Forwarded-For": f"192.0.2.{n}", "Referer": "https://localhost/staff/login"},
        )

    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE):
            assert attempt(f"wrong password {n}", n).status_code == 401
        assert attempt(account.password, 200).status_code == 429


def test_refused_sign_ins_are_summarised_at_most_once_an_hour_per_pair(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    client = app.test_client()
    with time_machine.travel(now(), tick=False) as traveller:
        for n in range(login_throttle.PAIR_FREE):
            sign_in(client, account, password=f"wrong password {n}", address="203.0.113.7")
        for _ in range(5):
            assert sign_in(client, account, address="203.0.113.7").status_code == 429
        traveller.shift(timedelta(minutes=61))
        assert sign_in(client, account, password="still the wrong one", address="203.0.113.7").status_code == 401
        traveller.shift(timedelta(seconds=2))
        assert sign_in(client, account, address="203.0.113.7").status_code == 302
    with unit_of_work() as s:
        rows = audit.search(s, audit.Filter(action_prefix="staff.login_failed"))
    assert [r.details for r in reversed(rows)] == [
        {"failures": 1, "refused": 0},
        {"failures": login_throttle.PAIR_FREE, "refused": 5},
    ]
    assert all(r.subject_id == str(account.id) and r.actor_label == "anonymous" for r in rows)


def test_an_administrator_lifts_the_delays_with_kosodate_staff_unlock(app, runner, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE + 3):
            sign_in(app.test_client(), account, password=f"wrong password {n}", address="203.0.113.7")
        assert sign_in(app.test_client(), account, address="203.0.113.7").status_code == 429
        result = runner.invoke(cli, args=["staff", "unlock", account.login.upper()])
        assert result.exit_code == 0, result.output
        assert sign_in(app.test_client(), account, address="203.0.113.7").status_code == 302
    with unit_of_work() as s:
        unlocked = audit.search(s, audit.Filter(action_prefix="staff.unlock"))
    assert [(e.actor_label, e.subject_id, e.details) for e in unlocked] == [("cli", str(account.id), {"addresses": 1})]


def unlock_as_a_process(app, database_url: str, login: str) -> subprocess.CompletedProcess:
    """``kosodate staff unlock LOGIN`` run by the installed executable with only environment variables."""
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_MODE": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kosodate")), "staff", "unlock", login],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_kosodate_staff_unlock_runs_as_its_own_process(app, database_url, staff_factory, sign_in):
    account = staff_factory("viewer", "minamihoncho")
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE):
            sign_in(app.test_client(), account, password=f"wrong password {n}", address="203.0.113.7")
    done = unlock_as_a_process(app, database_url, account.login)
    assert "1 address" in done.stdout and account.login not in done.stdout + done.stderr
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(LoginThrottle)) == 1  # only the address-wide counter


def test_an_administrator_lifts_the_delays_from_the_member_page(app, console, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "minamihoncho")
    with time_machine.travel(now(), tick=False):
        for n in range(login_throttle.PAIR_FREE):
            sign_in(app.test_client(), account, password=f"wrong password {n}", address="203.0.113.7")
        assert sign_in(app.test_client(), account, address="203.0.113.7").status_code == 429
        admin, _ = console("admin")
        page = admin.get(f"/staff/members/{account.id}").get_data(as_text=True)
        assert "ログインの待ち時間を解除" in page and "1か所の接続元" in page
        token = csrf_token(admin, f"/staff/members/{account.id}")
        assert admin.post(f"/staff/members/{account.id}/unlock", data={"csrf_token": token}).status_code == 302
        assert sign_in(app.test_client(), account, address="203.0.113.7").status_code == 302
        assert "か所の接続元" not in admin.get(f"/staff/members/{account.id}").get_data(as_text=True)
    with unit_of_work() as s:
        assert audit.count(s, audit.Filter(action_prefix="staff.unlock", subject_id=str(account.id))) == 1


def test_only_administrators_may_lift_delays(console, staff_factory, csrf_token):
    account = staff_factory("staff", "minamihoncho")
    colleague, _ = console("staff", "minamihoncho")
    token = csrf_token(colleague, "/staff/account")
    assert colleague.post(f"/staff/members/{account.id}/unlock", data={"csrf_token": token}).status_code == 403


def test_production_warns_once_when_a_proxy_forwards_but_trusted_proxies_is_0(database_url, line, caplog):
    import secrets

    from cryptography.fernet import Fernet

    from bot.app import create_app

    app = create_app(
        {
            "mode": "production",
            "database_url": database_url,
            "line_api_base_url": line.base_url,
            "line_channel_secret": secrets.token_hex(16),
            "line_channel_access_token": "token",
            "secret_key": secrets.token_hex(32),
            "data_encryption_key": Fernet.generate_key().decode(),
            "public_base_url": "https://bot.example.test",
            "line_bot_user_id": "U" + "0" * 32,
            "inline_processing": False,
        }
    )
    try:
        client = app.test_client()
        with caplog.at_level("WARNING", logger="bot.security"):
            client.get("/staff/login", base_url="https://localhost")
            for n in range(3):
                client.get("/staff/login", base_url="https://localhost", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.security"]
        assert len(warnings) == 1 and "TRUSTED_PROXIES=0" in warnings[0] and "192.0.2" not in warnings[0]
    finally:
        app.extensions["kosodate"].close()


def test_throttle_records_keep_no_login_or_address_in_clear(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    sign_in(app.test_client(), account, password="wrong password 1", address="198.51.100.1")
    with unit_of_work() as s:
        rows = s.scalars(select(LoginThrottle)).all()
    # the pair, the address whatever the account, the account whatever the address
    assert sorted((len(row.account_key), len(row.address_key)) for row in rows) == [(1, 64), (64, 1), (64, 64)]
    for row in rows:
        assert account.login not in row.account_key and "198.51.100.1" not in row.address_key


def test_retention_writes_what_is_unreported_then_forgets_quiet_counters(app, staff_factory, sign_in):
    from storage import retention

    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        for n in range(3):
            sign_in(app.test_client(), account, password=f"wrong password {n}", address="198.51.100.1")
        traveller.shift(timedelta(days=1, minutes=1))
        with unit_of_work() as s:
            assert retention.purge_staff_sessions(s, now() - timedelta(days=365), 100) == 3  # pair, address, account
            assert s.scalar(select(func.count()).select_from(LoginThrottle)) == 0
            summaries = audit.search(s, audit.Filter(action_prefix="staff.login_failed"))
    assert sorted(e.details["failures"] for e in summaries) == [1, 2]


# --- TOTP --------------------------------------------------------------------------------------------------------
def enable_totp(client, csrf_token) -> str:
    client.post("/staff/account/totp/begin", data={"csrf_token": csrf_token(client, "/staff/account")})
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = page.split('aria-label="セットアップキー">')[1].split("<")[0]
    token = csrf_token(client, "/staff/account/totp")
    wrong = client.post("/staff/account/totp", data={"csrf_token": token, "code": "000000"})
    assert "確認コードが違います" in wrong.get_data(as_text=True)
    client.post("/staff/account/totp", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    return secret


def test_totp_second_factor(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("admin")
    first = app.test_client()
    with time_machine.travel(now(), tick=False) as traveller:
        sign_in(first, account)
        secret = enable_totp(first, csrf_token)
        stored = member(account.id)
        assert stored.totp_enabled and secret not in stored.totp_secret and crypto.unseal(stored.totp_secret) == secret
        traveller.shift(timedelta(seconds=60))
        client = app.test_client()
        response = sign_in(client, account)
        assert response.headers["Location"].endswith("/staff/login/code")
        assert client.get("/staff/today").status_code == 302  # the password alone is not a session
        token = csrf_token(client, "/staff/login/code")
        assert client.post("/staff/login/code", data={"csrf_token": token, "code": "123456"}).status_code == 401
        code = pyotp.TOTP(secret).now()
        assert client.post("/staff/login/code", data={"csrf_token": token, "code": code}).status_code == 302
        assert client.get("/staff/today").status_code == 200
        # The same code cannot be used twice, even within its 30 seconds.
        again = app.test_client()
        sign_in(again, account)
        replay = again.post(
            "/staff/login/code", data={"csrf_token": csrf_token(again, "/staff/login/code"), "code": code}
        )
        assert replay.status_code == 401


def test_an_unfinished_second_factor_expires(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("admin")
    browser = app.test_client()
    sign_in(browser, account)
    secret = enable_totp(browser, csrf_token)
    with time_machine.travel(now(), tick=False) as traveller:
        client = app.test_client()
        sign_in(client, account)
        token = csrf_token(client, "/staff/login/code")
        traveller.shift(timedelta(minutes=6))
        late = client.post("/staff/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
        assert late.status_code == 302 and late.headers["Location"].endswith("/staff/login")


def test_an_administrator_can_reset_a_lost_second_factor(app, console, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    own = app.test_client()
    sign_in(own, account)
    enable_totp(own, csrf_token)
    admin, _ = console("admin")
    token = csrf_token(admin, f"/staff/members/{account.id}")
    admin.post(f"/staff/members/{account.id}/totp-reset", data={"csrf_token": token, "confirm": "y"})
    assert not member(account.id).totp_enabled
    assert sign_in(app.test_client(), account).headers["Location"].endswith("/staff/today")


# --- accounts and the command line -------------------------------------------------------------------------------
def test_staff_create_makes_the_first_administrator_with_a_prompted_password(runner, fast_passwords):
    result = runner.invoke(
        cli,
        args=["staff", "create", "--name", "地域 太郎", "--login", "Taro@City.Example"],
        input="a good long passphrase\na good long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "a good long passphrase" not in result.output
    with unit_of_work() as s:
        created = staff.by_login(s, "taro@city.example")
        assert (created.role, created.centre, created.active) == ("admin", "division", True)
        assert created.password_hash.startswith("$argon2id$")
        assert audit.count(s, audit.Filter(action_prefix="staff.create")) == 1


def test_staff_create_refuses_a_weak_password_and_a_taken_login(runner, fast_passwords):
    weak = runner.invoke(
        cli, args=["staff", "create", "--name", "A", "--login", "a@city.example"], input="short\nshort\n"
    )
    assert weak.exit_code != 0
    ok = runner.invoke(
        cli,
        args=["staff", "create", "--name", "A", "--login", "a@city.example"],
        input="long enough passphrase\nlong enough passphrase\n",
    )
    assert ok.exit_code == 0
    again = runner.invoke(
        cli,
        args=["staff", "create", "--name", "B", "--login", "A@city.example"],
        input="long enough passphrase\nlong enough passphrase\n",
    )
    assert again.exit_code != 0 and "already" in again.output


def test_staff_invite_gives_a_one_time_code_that_links_a_line_account(runner, staff_factory):
    from storage import users

    account = staff_factory("staff", "minamihoncho")
    result = runner.invoke(cli, args=["staff", "invite", account.login])
    assert result.exit_code == 0, result.output
    code = result.output.strip().splitlines()[-1].split()[-1]
    with unit_of_work() as s:
        user = users.get_or_create(s, "U" + "1" * 32)
        assert staff.redeem_invite(s, code.lower(), user.id).id == account.id
        assert staff.by_line_user(s, user.id).id == account.id
        assert staff.redeem_invite(s, code, user.id) is None  # once only
        assert audit.count(s, audit.Filter(action_prefix="staff.invite")) == 1


def test_an_invite_expires_after_a_day(app, staff_factory):
    from storage import users

    account = staff_factory("staff", "minamihoncho")
    with time_machine.travel(now(), tick=False) as traveller:
        with unit_of_work() as s:
            code = staff.create_invite(s, s.get(StaffMember, account.id))
        traveller.shift(timedelta(hours=25))
        with unit_of_work() as s:
            assert staff.redeem_invite(s, code, users.get_or_create(s, "U" + "2" * 32).id) is None


def test_administrators_manage_accounts_in_the_console(console, csrf_token):
    admin, _ = console("admin")
    token = csrf_token(admin, "/staff/members/new")
    response = admin.post(
        "/staff/members/new",
        data={
            "csrf_token": token,
            "name": "高根台 花子",
            "login": "hanako@city.example",
            "centre": "takanedai",
            "role": "staff",
            "password": "a fresh passphrase",
        },
    )
    assert response.status_code == 302
    with unit_of_work() as s:
        created = staff.by_login(s, "hanako@city.example")
        assert (created.centre, created.role) == ("takanedai", "staff")
    page = admin.get("/staff/members").get_data(as_text=True)
    assert "高根台 花子" in page and "高根台子育て支援センター" in page
    duplicate = admin.post(
        "/staff/members/new",
        data={
            "csrf_token": token,
            "name": "別人",
            "login": "Hanako@city.example",
            "centre": "takanedai",
            "role": "staff",
            "password": "a fresh passphrase",
        },
    )
    assert "すでに使われています" in duplicate.get_data(as_text=True)
    invite = admin.post(f"/staff/members/{created.id}/invite", data={"csrf_token": token})
    assert invite.status_code == 200 and "LINE連携コード" in invite.get_data(as_text=True)
