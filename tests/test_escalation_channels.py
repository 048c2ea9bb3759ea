"""Escalation notices by e-mail (a local SMTP server: aiosmtpd) and the outgoing webhook (a local HTTP receiver):
what they carry (reference, kind, centre, console link — nothing personal), retries, skipped channels, settings."""

from __future__ import annotations

import email
import json
import logging
import socket
import threading
from datetime import timedelta
from email.policy import default as default_policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.config import ConfigError, from_environ
from runtime.notify import EmailSender, NotifyError, WebhookSender, parse_smtp_url, senders
from scheduler.escalation import send_notices
from scheduler.worker import Worker
from storage.clock import now
from tests.report_support import file_report, notices, only_escalation, parent_with_events, staff_in_line
from tests.support import ChatUser

NOTE = "息子の名前は船橋太郎です"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    # aiosmtpd, the stand-in mail server, logs each recipient at INFO: the receiving end's log, not the bot's.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield mailbox
    controller.stop()
    server_log.setLevel(level)


class Receiver:
    """A local HTTP endpoint standing in for Slack / Teams: records each POST, answers ``statuses`` in turn."""

    def __init__(self):
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/escalation"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def wsgi(self, request: Request) -> Response:
        self.posts.append({"path": request.path, "type": request.content_type, "json": request.get_json()})
        return Response("ok", status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
def webhook_receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.thread.join()


@pytest.fixture
def channels(runtime, smtp_server, webhook_receiver):
    config = runtime.config.with_(
        smtp_url=smtp_server.url,
        escalation_email_to="kosodate@city.example, duty@city.example",
        escalation_email_from="bot@city.example",
        escalation_webhook_url=webhook_receiver.url,
    )
    return senders(config)


def test_a_new_report_is_mailed_and_posted_with_its_number_kind_centre_and_console_link_only(
    chat, channels, smtp_server, webhook_receiver
):
    parent = parent_with_events(chat, event_centre="takanedai")
    file_report(parent.chat, events=("ねんね",), note=NOTE)
    escalation = only_escalation()

    assert send_notices(channels) == {"sent": 2}

    [mail] = smtp_server.messages
    assert smtp_server.envelopes == [("bot@city.example", ["kosodate@city.example", "duty@city.example"])]
    assert escalation.reference in mail["Subject"] and "紛失・盗難の報告" in mail["Subject"]
    assert "高根台子育て支援センター" in mail["Subject"]
    body = mail.get_content()
    assert f"https://bot.example.test/staff/escalations/{escalation.id}" in body
    assert "種類：紛失・盗難の報告（参加用リンク）" in body
    [post] = webhook_receiver.posts
    assert post["type"] == "application/json" and set(post["json"]) == {"text"}
    posted = post["json"]["text"]
    assert escalation.reference in posted and f"/staff/escalations/{escalation.id}" in posted
    for text in (mail["Subject"] + body, post["json"]["text"]):
        for personal in ("船橋 花子", "ふなばし", "090-1234-5678", NOTE, "ねんねの赤ちゃん交流会", parent.chat.user_id):
            assert personal not in text
    assert {n.status for n in notices()} == {"sent"}


def test_sending_again_sends_nothing_twice(chat, channels, smtp_server, webhook_receiver):
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    send_notices(channels)
    assert send_notices(channels) == {}
    assert (len(smtp_server.messages), len(webhook_receiver.posts)) == (1, 1)


def test_a_failed_webhook_is_tried_again_later_and_the_mail_is_not_held_back(
    chat, channels, smtp_server, webhook_receiver
):
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    webhook_receiver.statuses = [503]
    with time_machine.travel(now(), tick=False) as traveller:
        assert send_notices(channels) == {"sent": 1, "retry": 1}
        webhook = next(n for n in notices() if n.channel == "webhook")
        assert (webhook.status, webhook.attempts, webhook.last_error) == ("planned", 1, "webhook answered HTTP 503")
        assert send_notices(channels) == {}  # not due yet
        traveller.shift(timedelta(seconds=31))
        assert send_notices(channels) == {"sent": 1}
    assert len(webhook_receiver.posts) == 2 and len(smtp_server.messages) == 1


def test_an_unreachable_mail_server_is_retried_and_finally_given_up(chat, runtime, webhook_receiver):
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    dead = senders(
        runtime.config.with_(smtp_url=f"smtp://127.0.0.1:{free_port()}", escalation_email_to="duty@city.example")
    )
    outcomes = []
    with time_machine.travel(now(), tick=False) as traveller:
        for _ in range(11):
            outcomes.append(dict(send_notices(dead)))
            traveller.shift(timedelta(hours=1))  # the longest wait between tries
    assert outcomes == [{"retry": 1, "skipped": 1}] + [{"retry": 1}] * 8 + [{"failed": 1}, {}]
    mail = next(n for n in notices() if n.channel == "email")
    assert mail.status == "failed" and mail.attempts == 10
    assert "SMTP failed (ConnectionRefusedError)" in mail.last_error and "duty@city.example" not in mail.last_error
    assert next(n for n in notices() if n.channel == "webhook").status == "skipped"


def test_channels_left_unconfigured_are_skipped_not_kept_forever(chat, runtime):
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    assert send_notices(senders(runtime.config)) == {"skipped": 2}
    assert {(n.status, n.last_error) for n in notices()} == {
        ("skipped", "email is not configured"),
        ("skipped", "webhook is not configured"),
    }


def test_the_line_alert_and_the_two_notices_all_go_at_once(chat, channels, smtp_server, webhook_receiver):
    staff_user, _ = staff_in_line(chat)
    parent = parent_with_events(chat)
    file_report(parent.chat, lost="その他")
    assert "【至急】紛失・盗難の報告" in ChatUser.texts(staff_user.new_messages())
    send_notices(channels)
    assert (len(smtp_server.messages), len(webhook_receiver.posts)) == (1, 1)


def test_the_worker_runs_the_escalation_jobs(runtime):
    worker = Worker(runtime)
    try:
        ids = [job[0] for job in worker.jobs()]
    finally:
        worker.close()
    assert {"escalation-timers", "escalation-notices"} <= set(ids)


# --- senders and settings -----------------------------------------------------------------------------------------
def test_smtp_urls():
    assert parse_smtp_url("smtp://mail.example:2525") == parse_smtp_url("smtp://mail.example:2525?starttls=0")
    server = parse_smtp_url("smtps://bot%40city:p%40ss@mail.example")
    assert (server.host, server.port, server.tls, server.username, server.password) == (
        "mail.example",
        465,
        True,
        "bot@city",
        "p@ss",
    )
    assert parse_smtp_url("smtp://mail.example?starttls=1").starttls is True
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example")


def test_a_mail_server_that_refuses_gives_its_code_only(smtp_server):
    class Refusing(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 no such user here"

    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = EmailSender(f"smtp://127.0.0.1:{controller.port}", "bot@city.example", ["nobody@city.example"])
        with pytest.raises(NotifyError) as refused:
            sender.send("件名", "本文")
    finally:
        controller.stop()
    assert "nobody@city.example" not in str(refused.value)


def test_a_webhook_that_cannot_be_reached_is_a_notify_error():
    with pytest.raises(NotifyError, match="webhook failed"):
        WebhookSender(f"http://127.0.0.1:{free_port()}/hook", timeout=2).send("件名", "本文")


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"SMTP_URL": "mail.example:25"}, "SMTP_URL"),
        ({"ESCALATION_WEBHOOK_URL": "ftp://hooks.example"}, "ESCALATION_WEBHOOK_URL"),
        ({"ESCALATION_ACK_MINUTES": "0"}, "ESCALATION_ACK_MINUTES"),
        ({"ESCALATION_REOPEN_HOURS": "10000"}, "ESCALATION_REOPEN_HOURS"),
    ],
)
def test_unworkable_escalation_settings_stop_the_start(env, problem):
    with pytest.raises(ConfigError, match=problem):
        from_environ({"APP_MODE": "test", **env})


def test_escalation_settings_are_read_from_the_environment():
    config = from_environ(
        {
            "APP_MODE": "test",
            "SMTP_URL": "smtp://mail.example:25",
            "ESCALATION_EMAIL_TO": "a@city.example,b@city.example",
            "ESCALATION_WEBHOOK_URL": "https://hooks.example/x",
            "ESCALATION_ACK_MINUTES": "5",
            "ESCALATION_REOPEN_HOURS": "12",
        }
    )
    assert (config.escalation_ack_minutes, config.escalation_reopen_hours) == (5, 12)
    assert set(senders(config)) == {"email", "webhook"}
    assert json.dumps(senders(config)["email"].recipients) == '["a@city.example", "b@city.example"]'
