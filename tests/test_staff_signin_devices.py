"""An account-wide limit without a lockout: OWASP's device cookies (second outside probe of issue 13).

Guessing one account's password from many addresses (a botnet, rotating IPv6 networks, a forwarded header believed
without a real proxy) escapes the per-pair and per-address delays. So failures from browsers the account has never
signed in from also count for the account as a whole; past ``ACCOUNT_FREE`` of them within the hour, every such
browser waits, from anywhere. The owner's own browser, which holds a device cookie from an earlier sign-in, is not
held back; a stolen cookie buys only ``DEVICE_TRIES`` guesses before it is revoked.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from bot.cli import cli
from bot.staff.login import DEVICE_COOKIE
from storage import audit, login_throttle, retention, staff
from storage.clock import now
from storage.db import unit_of_work
from storage.models import StaffDevice, StaffMember
from tests.test_staff_auth import unlock_as_a_process


def device_browser(app, account, sign_in, csrf_token):
    """A browser the member signed in from and signed out of again: it keeps only its device cookie."""
    browser = app.test_client()
    assert sign_in(browser, account, address="192.0.2.10").status_code == 302
    browser.post("/staff/logout", data={"csrf_token": csrf_token(browser, "/staff/account")})
    assert browser.get("/staff/today").status_code == 302 and browser.get_cookie(DEVICE_COOKIE, path="/staff")
    return browser


def botnet(sign_in, client, account, attempts: int) -> list[int]:
    """One wrong password from each of ``attempts`` addresses, all in the same moment; their answers' statuses."""
    return [
        sign_in(client, account, password=f"botnet guess {n}", address=f"10.{n // 250}.{n % 250}.1").status_code
        for n in range(attempts)
    ]


def test_many_addresses_are_slowed_down_together_once_the_account_has_many_failures(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False):
        statuses = botnet(sign_in, app.test_client(), account, 140)
        free = login_throttle.ACCOUNT_FREE
        assert statuses[:free] == [401] * free and statuses[free:] == [429] * (140 - free)
        # A new browser from a new address waits too, even with the right password; the page says how long.
        refused = sign_in(app.test_client(), account, address="192.0.2.99")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "あと1秒ほどログインできません" in refused.get_data(as_text=True)


def test_the_owner_with_a_device_cookie_signs_in_at_once_during_the_attack(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    owners_browser = device_browser(app, account, sign_in, csrf_token)
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        assert sign_in(owners_browser, account, address="198.51.100.77").status_code == 302
        assert owners_browser.get("/staff/today").status_code == 200


def test_the_owner_in_a_new_browser_signs_in_once_the_delay_has_passed(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        botnet(sign_in, app.test_client(), account, 140)
        new_browser = app.test_client()
        wait = int(sign_in(new_browser, account, address="192.0.2.99").headers["Retry-After"])
        traveller.shift(timedelta(seconds=wait))
        assert sign_in(new_browser, account, address="192.0.2.99").status_code == 302
        assert new_browser.get_cookie(DEVICE_COOKIE, path="/staff")  # trusted from now on


def test_the_account_wide_delay_grows_with_each_further_failure():
    free = login_throttle.ACCOUNT_FREE
    assert login_throttle.delay(free - 1, free) == timedelta(0)
    assert [login_throttle.delay(free + n, free).total_seconds() for n in range(3)] == [1, 2, 4]
    assert login_throttle.delay(free + 30, free) == timedelta(minutes=15)  # at most 15 minutes: about 100 a day


def test_the_account_is_forgotten_after_an_hour_without_failures(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        botnet(sign_in, app.test_client(), account, login_throttle.ACCOUNT_FREE + 1)
        traveller.shift(login_throttle.ACCOUNT_FORGET)
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 302


def test_an_administrator_lifts_the_account_wide_delay_with_kosodate_staff_unlock(app, runner, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 429
        result = runner.invoke(cli, args=["staff", "unlock", account.login])
        assert result.exit_code == 0, result.output
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 302
    with unit_of_work() as s:
        unlocked = audit.search(s, audit.Filter(action_prefix="staff.unlock"))
    assert [e.details for e in unlocked] == [{"addresses": login_throttle.ACCOUNT_FREE}]


def test_kosodate_staff_unlock_lifts_the_account_wide_delay_as_its_own_process(
    app, database_url, staff_factory, sign_in
):
    account = staff_factory("staff", "takanedai")
    moment = now()
    with time_machine.travel(moment, tick=False):
        botnet(sign_in, app.test_client(), account, 40)
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 429
    unlock_as_a_process(app, database_url, account.login)
    with time_machine.travel(moment, tick=False):  # the moment of the attack: without the unlock, a 429
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 302


def test_the_member_page_button_lifts_the_account_wide_delay(app, console, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "minamihoncho")
    admin, _ = console("admin")
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 429
        token = csrf_token(admin, f"/staff/members/{account.id}")
        assert admin.post(f"/staff/members/{account.id}/unlock", data={"csrf_token": token}).status_code == 302
        assert sign_in(app.test_client(), account, address="192.0.2.99").status_code == 302


def test_a_device_cookie_of_another_account_does_not_help(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    colleague = staff_factory("staff", "takanedai")
    shared_computer = device_browser(app, colleague, sign_in, csrf_token)
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        assert sign_in(shared_computer, account, address="192.0.2.10").status_code == 429
        # The colleague's own sign-in from it is not held back: their account is not under attack.
        assert sign_in(shared_computer, colleague, address="192.0.2.10").status_code == 302


def test_one_browser_keeps_the_device_cookies_of_several_members(app, staff_factory, sign_in, csrf_token):
    first, second = staff_factory("staff", "takanedai"), staff_factory("staff", "takanedai")
    shared_computer = device_browser(app, first, sign_in, csrf_token)
    assert sign_in(shared_computer, second, address="192.0.2.10").status_code == 302
    shared_computer.post("/staff/logout", data={"csrf_token": csrf_token(shared_computer, "/staff/account")})
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), first, 140)
        assert sign_in(shared_computer, first, address="192.0.2.10").status_code == 302


def test_a_device_cookie_that_fails_too_often_is_revoked(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    stolen = device_browser(app, account, sign_in, csrf_token)
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        for n in range(staff.DEVICE_TRIES):
            assert (
                sign_in(
                    stolen, account, password=f"guess with a stolen cookie {n}", address=f"172.16.{n}.1"
                ).status_code
                == 401
            )
        with unit_of_work() as s:
            assert s.scalar(select(func.count()).select_from(StaffDevice)) == 0
        assert sign_in(stolen, account, address="172.16.99.1").status_code == 429


def test_the_signed_in_owner_changes_the_password_during_the_attack(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("staff", "takanedai")
    owner = app.test_client()
    assert sign_in(owner, account).status_code == 302
    with time_machine.travel(now(), tick=False):
        botnet(sign_in, app.test_client(), account, 140)
        new = "a brand new passphrase"
        token = csrf_token(owner, "/staff/account")
        owner.post(
            "/staff/account/password",
            data={"csrf_token": token, "current": account.password, "new": new, "confirm": new},
        )
        with unit_of_work() as s:
            assert staff.check_password(s.get(StaffMember, account.id), new)


def test_the_device_cookie_is_a_random_token_whose_hash_alone_is_stored(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    answer = sign_in(app.test_client(), account)
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(f"{DEVICE_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "path", "max-age"} <= attributes
    assert "Path=/staff" in cookie and "SameSite=Lax" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43 and account.login not in cookie
    with unit_of_work() as s:
        row = s.scalars(select(StaffDevice)).one()
    assert row.staff_id == account.id and row.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_device_tokens_unused_for_90_days_are_purged(app, staff_factory, sign_in):
    account = staff_factory("staff", "takanedai")
    with time_machine.travel(now(), tick=False) as traveller:
        sign_in(app.test_client(), account)
        traveller.shift(staff.DEVICE_KEPT - timedelta(minutes=1))
        with unit_of_work() as s:
            retention.purge_staff_sessions(s, now() - timedelta(days=365), 100)
            assert s.scalar(select(func.count()).select_from(StaffDevice)) == 1
        traveller.shift(timedelta(minutes=2))
        with unit_of_work() as s:
            retention.purge_staff_sessions(s, now() - timedelta(days=365), 100)
            assert s.scalar(select(func.count()).select_from(StaffDevice)) == 0
