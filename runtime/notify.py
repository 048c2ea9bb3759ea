"""E-mail (SMTP, with Python's smtplib) and the outgoing webhook (an httpx POST of ``{"text": ...}``, the shape Slack
and Microsoft Teams incoming webhooks take): the two channels besides LINE that tell staff about an escalation.
LINE itself goes only through runtime/line_gateway.py. Which addresses a notice goes to (a centre's, set in the
console, or the division's, with the environment's defaults) is storage/routing.py's to decide.

A sender sends one notice and raises ``NotifyError`` when it could not; the worker (scheduler/escalation.py) keeps
the notice planned and tries again later. Notices carry a reference number, a kind, a centre and a console link
(services/reports/notices.py ``external_text``), nothing personal; errors name the failure, never an address.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from storage import routing
from storage.clock import now

TIMEOUT_SECONDS = 10.0


class NotifyError(RuntimeError):
    """The notice could not be delivered this time (the message says why, without addresses)."""


class Sender(Protocol):
    channel: str

    def send(self, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # SMTPS: TLS from the first byte
    starttls: bool
    username: str
    password: str


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://host:25``, ``smtp://user:password@host:587?starttls=1``, ``smtps://user:password@host:465``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://host:port or smtps://user:password@host:port")
    tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0] in ("1", "true", "yes")
    insecure = query.get("insecure", ["0"])[0] in ("1", "true", "yes")
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if (username or password) and not (tls or starttls or insecure):
        # The password would cross the network in clear.
        raise ValueError(
            "SMTP_URL sends its password without TLS: use smtps://, add ?starttls=1, or ?insecure=1 "
            "if the server is on this machine"
        )
    return SmtpServer(parts.hostname, parts.port or (465 if tls else 25), tls, starttls, username, password)


class EmailSender:
    channel = "email"

    def __init__(self, smtp_url: str, sender: str, recipients: list[str], timeout: float = TIMEOUT_SECONDS):
        self.server = parse_smtp_url(smtp_url)
        self.sender, self.recipients, self.timeout = sender, recipients, timeout

    def message(self, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = format_datetime(now())
        message["Message-ID"] = make_msgid(domain="kosodate-line-bot.invalid")
        message.set_content(body)
        return message

    def send(self, subject: str, body: str) -> None:
        server = self.server
        connect = smtplib.SMTP_SSL if server.tls else smtplib.SMTP
        options: dict[str, Any] = {"context": ssl.create_default_context()} if server.tls else {}
        try:
            with connect(server.host, server.port, timeout=self.timeout, **options) as smtp:
                if server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if server.username:
                    smtp.login(server.username, server.password)
                smtp.send_message(self.message(subject, body))
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(f"SMTP refused ({exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"SMTP failed ({type(exc).__name__})") from None


class WebhookSender:
    channel = "webhook"

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self.url, self.timeout = url, timeout

    def send(self, subject: str, body: str) -> None:
        try:
            response = httpx.post(self.url, json={"text": f"{subject}\n{body}"}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise NotifyError(f"webhook failed ({type(exc).__name__})") from None
        if not response.is_success:
            raise NotifyError(f"webhook answered HTTP {response.status_code}")


def senders(config: Any) -> dict[str, Sender]:
    """The configured channels: e-mail when SMTP_URL and ESCALATION_EMAIL_TO are set, the webhook when
    ESCALATION_WEBHOOK_URL is."""
    out: dict[str, Sender] = {}
    recipients = [a.strip() for a in config.escalation_email_to.split(",") if a.strip()]
    if config.smtp_url and recipients:
        out["email"] = EmailSender(config.smtp_url, config.escalation_email_from, recipients)
    if config.escalation_webhook_url:
        out["webhook"] = WebhookSender(config.escalation_webhook_url)
    return out


def address_sender(config: Any, channel: str, address: str) -> Sender | None:
    """A sender for one address set in the console (storage/routing.py); None for e-mail without SMTP_URL."""
    if channel == "webhook":
        return WebhookSender(address)
    if channel == "email" and config.smtp_url:
        return EmailSender(config.smtp_url, config.escalation_email_from, [address])
    return None


def division_defaults(config: Any) -> routing.Defaults:
    """What the environment gives the division, for telling whether an escalation can reach anybody."""
    return routing.Defaults(
        smtp=bool(config.smtp_url), email="email" in senders(config), webhook=bool(config.escalation_webhook_url)
    )


def config_problem(config: Any) -> str | None:
    """Why these escalation settings cannot work, in one line for the operator; None when they can."""
    if config.smtp_url:
        try:
            parse_smtp_url(config.smtp_url)
        except ValueError as exc:
            return str(exc)
    if config.escalation_webhook_url and routing.webhook_problem(config.escalation_webhook_url):
        return "ESCALATION_WEBHOOK_URL must be an https URL (http only to this machine), without a user or password"
    if not 1 <= config.escalation_ack_minutes <= 24 * 60:
        return "ESCALATION_ACK_MINUTES must be between 1 and 1440"
    if not 1 <= config.escalation_reopen_hours <= 24 * 30:
        return "ESCALATION_REOPEN_HOURS must be between 1 and 720"
    return None
