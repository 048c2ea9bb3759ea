"""The second-factor step of signing in is kept on the server: the cookie carries only a random nonce for a
one-time challenge row, so a forged, copied or late cookie cannot sign in with the code alone."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import time_machine
from sqlalchemy import func, select

from bot.staff.login import CHALLENGE
from storage import retention
from storage.clock import now
from storage.db import unit_of_work
from storage.models import LoginChallenge
from tests.test_staff_auth import enable_totp

COOKIE = "__Host-kosodate"


def totp_account(app, staff_factory, sign_in, csrf_token):
    account = staff_factory("admin")
    browser = app.test_client()
    sign_in(browser, account)
    return account, enable_totp(browser, csrf_token)


def forged(app, content: dict) -> str:
    """A session cookie signed with the app's own SECRET_KEY, as whoever learnt the key would make it."""
    return app.session_interface.get_signing_serializer(app).dumps(content)


def post_code(client, csrf_token, code: str):
    token = csrf_token(client, "/staff/login/code")
    return client.post("/staff/login/code", data={"csrf_token": token, "code": code})


def test_a_forged_pending_sign_in_cookie_cannot_sign_in_with_the_code_alone(app, staff_factory, sign_in, csrf_token):
    account, secret = totp_account(app, staff_factory, sign_in, csrf_token)
    with time_machine.travel(now() + timedelta(seconds=60), tick=False):
        for content in (
            {"staff_totp_pending": {"id": account.id, "at": int(now().timestamp()), "account": "0" * 64}},
            {CHALLENGE: "a-nonce-the-forger-made-up"},
        ):
            client = app.test_client()
            client.set_cookie(COOKIE, forged(app, content))
            response = post_code(client, csrf_token, pyotp.TOTP(secret).now())
            assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")
            assert client.get("/staff/today").status_code == 302


def test_the_cookie_holds_only_a_nonce_and_the_server_only_its_hash(app, staff_factory, sign_in, csrf_token):
    account, _ = totp_account(app, staff_factory, sign_in, csrf_token)
    client = app.test_client()
    sign_in(client, account)
    content = app.session_interface.get_signing_serializer(app).loads(client.get_cookie(COOKIE).value)
    nonce = content[CHALLENGE]
    assert isinstance(nonce, str) and len(nonce) >= 43 and not {"staff_totp_pending", "id", "account"} & set(content)
    with unit_of_work() as s:
        row = s.scalars(select(LoginChallenge)).one()
        assert row.staff_id == account.id and nonce not in (row.nonce_hash, row.account_key)


def test_a_used_challenge_cannot_be_replayed(app, staff_factory, sign_in, csrf_token):
    account, secret = totp_account(app, staff_factory, sign_in, csrf_token)
    with time_machine.travel(now() + timedelta(seconds=60), tick=False) as traveller:
        client = app.test_client()
        sign_in(client, account)
        copied = client.get_cookie(COOKIE).value
        assert post_code(client, csrf_token, pyotp.TOTP(secret).now()).status_code == 302
        traveller.shift(timedelta(seconds=60))  # a fresh code, so only the used challenge can refuse it
        replay = app.test_client()
        replay.set_cookie(COOKIE, copied)
        response = post_code(replay, csrf_token, pyotp.TOTP(secret).now())
        assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")
        assert replay.get("/staff/today").status_code == 302
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(LoginChallenge)) == 0


def test_a_challenge_older_than_5_minutes_is_refused_and_purged(app, staff_factory, sign_in, csrf_token):
    account, secret = totp_account(app, staff_factory, sign_in, csrf_token)
    with time_machine.travel(now() + timedelta(seconds=60), tick=False) as traveller:
        client = app.test_client()
        sign_in(client, account)
        token = csrf_token(client, "/staff/login/code")
        other = app.test_client()
        sign_in(other, account)  # left unfinished
        traveller.shift(timedelta(minutes=5, seconds=1))
        late = client.post("/staff/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
        assert late.status_code == 302 and late.headers["Location"].endswith("/staff/login")
        assert client.get("/staff/today").status_code == 302
        with unit_of_work() as s:
            assert retention.purge_staff_sessions(s, now() - timedelta(days=365), 100) == 1
            assert s.scalar(select(func.count()).select_from(LoginChallenge)) == 0


def test_wrong_codes_count_against_the_account_and_address_of_the_server_side_challenge(
    app, staff_factory, sign_in, csrf_token
):
    from storage import login_throttle, staff

    account, _ = totp_account(app, staff_factory, sign_in, csrf_token)
    with time_machine.travel(now() + timedelta(seconds=60), tick=False):
        client = app.test_client()
        for _ in range(login_throttle.PAIR_FREE // staff.CHALLENGE_TRIES):
            assert sign_in(client, account).status_code == 302  # the password again, after each ended challenge
            for _ in range(staff.CHALLENGE_TRIES):
                assert post_code(client, csrf_token, "000000").status_code == 401
        assert sign_in(client, account).status_code == 429


def test_a_challenge_ends_after_5_wrong_codes_from_whichever_addresses(app, staff_factory, sign_in, csrf_token):
    """Counted on the server-side row: changing address (or replaying the cookie) does not give more tries."""
    from storage import staff

    account, secret = totp_account(app, staff_factory, sign_in, csrf_token)
    with time_machine.travel(now() + timedelta(seconds=60), tick=False):
        client = app.test_client()
        assert sign_in(client, account).status_code == 302
        nonce = app.session_interface.get_signing_serializer(app).loads(client.get_cookie(COOKIE).value)[CHALLENGE]
        for n in range(staff.CHALLENGE_TRIES):
            token = csrf_token(client, "/staff/login/code")
            answer = client.post(
                "/staff/login/code",
                data={"csrf_token": token, "code": "000000"},
                environ_base={"REMOTE_ADDR": f"198.51.100.{n % 2 + 1}"},
            )
            assert answer.status_code == 401
        assert "パスワードからもう一度入力してください" in answer.get_data(as_text=True)
        with unit_of_work() as s:
            assert s.scalar(select(func.count()).select_from(LoginChallenge)) == 0
        # Neither the right code nor the old cookie's nonce opens the ended challenge: the password is asked again.
        late = client.post("/staff/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
        assert late.status_code == 302 and late.headers["Location"].endswith("/staff/login")
        replay = app.test_client()
        replay.set_cookie(COOKIE, forged(app, {CHALLENGE: nonce}))
        assert replay.get("/staff/login/code").status_code == 302
        assert client.get("/staff/today").status_code == 302
        # Starting again with the password gives a fresh challenge, and the right code signs in.
        assert sign_in(client, account).status_code == 302
        assert post_code(client, csrf_token, pyotp.TOTP(secret).now()).status_code == 302
        assert client.get("/staff/today").status_code == 200
