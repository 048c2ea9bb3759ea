"""Passwords (NIST SP 800-63B): at least 12 characters, not one of the common passwords, not containing the login;
the same rules wherever a password is set: the command line, the administrators' member pages, one's own account."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import cli
from storage import staff
from storage.db import unit_of_work
from storage.models import StaffMember

COMMON = "password1234"  # in the list of the most common passwords
WITH_LOGIN = "hanako-loves-spring"  # for the login hanako@city.example


def test_the_common_password_list_has_at_least_the_10000_most_common():
    listed = staff.common_passwords()
    assert len(listed) >= 10_000 and {"123456", "password", "qwertyuiop12", COMMON} <= listed


@pytest.mark.parametrize(
    "password, login",
    [
        (COMMON, None),
        ("Password1234", None),
        ("ｐａｓｓｗｏｒｄ１２３４", None),
        ("1qaz2wsx3edc", None),
        (WITH_LOGIN, "hanako@city.example"),
        ("my HANAKO@CITY.EXAMPLE pass", "Hanako@City.Example"),
    ],
)
def test_common_passwords_and_passwords_containing_the_login_are_refused(password, login):
    assert staff.password_problem(password, login=login)


def test_a_long_uncommon_password_without_the_login_is_accepted():
    assert staff.password_problem("spring picnic at the harbour", login="hanako@city.example") is None
    assert staff.password_problem("short one", login=None)  # the 12-character minimum stays


def test_the_storage_layer_refuses_too(app, fast_passwords):
    with unit_of_work() as s, pytest.raises(ValueError):
        staff.create_member(
            s, name="花子", login="hanako@city.example", centre="takanedai", role="staff", password=WITH_LOGIN
        )


@pytest.mark.parametrize("password", [COMMON, WITH_LOGIN])
def test_kosodate_staff_create_and_password_refuse_them(runner, fast_passwords, password):
    create = runner.invoke(
        cli,
        args=["staff", "create", "--name", "花子", "--login", "hanako@city.example"],
        input=f"{password}\n{password}\n",
    )
    assert create.exit_code != 0 and "common password" in create.output
    ok = runner.invoke(
        cli,
        args=["staff", "create", "--name", "花子", "--login", "hanako@city.example"],
        input="spring picnic at the harbour\nspring picnic at the harbour\n",
    )
    assert ok.exit_code == 0, ok.output
    change = runner.invoke(cli, args=["staff", "password", "hanako@city.example"], input=f"{password}\n{password}\n")
    assert change.exit_code != 0 and "containing the login" in change.output


def test_kosodate_staff_create_refuses_a_common_password_as_its_own_process(app, database_url):
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_MODE": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("kosodate")),
            "staff",
            "create",
            "--name",
            "花子",
            "--login",
            "hanako@city.example",
            "--password-stdin",
        ],
        input=COMMON + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "common password" in done.stderr and "Traceback" not in done.stderr
    with unit_of_work() as s:
        assert staff.by_login(s, "hanako@city.example") is None


def test_the_new_member_form_refuses_them(console, csrf_token):
    admin, _ = console("admin")
    token = csrf_token(admin, "/staff/members/new")
    for password, message in ((COMMON, "よく使われているパスワード"), (WITH_LOGIN, "ログインIDを含むパスワード")):
        page = admin.post(
            "/staff/members/new",
            data={
                "csrf_token": token,
                "name": "高根台 花子",
                "login": "hanako@city.example",
                "centre": "takanedai",
                "role": "staff",
                "password": password,
            },
        )
        assert page.status_code == 200 and message in page.get_data(as_text=True)
    with unit_of_work() as s:
        assert staff.by_login(s, "hanako@city.example") is None


def test_an_administrators_password_reset_refuses_them(console, staff_factory, csrf_token):
    account = staff_factory("staff", "takanedai")
    admin, _ = console("admin")
    with unit_of_work() as s:
        before = s.get(StaffMember, account.id).password_hash
    local = account.login.split("@")[0]
    for password in (COMMON, f"{local} in spring"):
        token = csrf_token(admin, f"/staff/members/{account.id}")
        admin.post(f"/staff/members/{account.id}/password", data={"csrf_token": token, "password": password})
        page = admin.get(f"/staff/members/{account.id}").get_data(as_text=True)
        assert "使えません" in page
    with unit_of_work() as s:
        assert s.get(StaffMember, account.id).password_hash == before


def test_ones_own_password_change_refuses_them(console, csrf_token):
    client, account = console("staff", "minamihoncho")
    local = account.login.split("@")[0]
    for password, message in (
        (COMMON, "よく使われているパスワード"),
        (f"{local}!{local}", "ログインIDを含むパスワード"),
    ):
        token = csrf_token(client, "/staff/account")
        page = client.post(
            "/staff/account/password",
            data={"csrf_token": token, "current": account.password, "new": password, "confirm": password},
        )
        assert page.status_code == 400 and message in page.get_data(as_text=True)
    with unit_of_work() as s:
        assert staff.check_password(s.get(StaffMember, account.id), account.password)
