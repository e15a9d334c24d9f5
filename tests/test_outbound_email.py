"""E-mail notifications against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811 (its own name)
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from gql_service.config import Settings
from gql_service.outbound.email import send_email
from gql_service.outbound.http import OutboundError

PASSWORD = "smtp-password-NEVER-SHOWN"


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    accept_login: bool = True

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        # handled=False: aiosmtpd then answers 535 itself on a refusal.
        return AuthResult(success=self.accept_login, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, *, with_auth: bool = False) -> Iterator[int]:
    options: dict[str, Any] = {}
    if with_auth:
        # Loopback without TLS: the test server must accept AUTH in clear text.
        options = {"authenticator": mailbox.authenticate, "auth_require_tls": False}
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def settings_for(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_from": "workflows@service.example",
        "smtp_timeout_seconds": 5,
    }
    return Settings(**{**values, **overrides})


async def test_message_is_delivered() -> None:
    mailbox = Mailbox()

    with smtp_server(mailbox) as port:
        await send_email(
            settings_for(port), "ops@team.example", "Deploy done", "All green.\n"
        )

    [(sender, recipients, message)] = mailbox.messages
    assert (sender, recipients) == ("workflows@service.example", ["ops@team.example"])
    assert message["From"] == "workflows@service.example"
    assert message["To"] == "ops@team.example"
    assert message["Subject"] == "Deploy done"
    assert message.get_content().rstrip() == "All green."


async def test_login_uses_the_configured_credentials() -> None:
    mailbox = Mailbox()

    with smtp_server(mailbox, with_auth=True) as port:
        settings = settings_for(port, smtp_username="bot", smtp_password=PASSWORD)
        await send_email(settings, "ops@team.example", "Hi", "Body")

    assert mailbox.logins == [(b"bot", PASSWORD.encode())]
    assert len(mailbox.messages) == 1


async def test_rejected_login_hides_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox = Mailbox(accept_login=False)
    caplog.set_level(logging.DEBUG, logger="gql_service")

    with smtp_server(mailbox, with_auth=True) as port:
        settings = settings_for(port, smtp_username="bot", smtp_password=PASSWORD)
        with pytest.raises(OutboundError) as caught:
            await send_email(settings, "ops@team.example", "Hi", "Body")

    assert mailbox.messages == []
    assert "SMTPAuthenticationError" in caught.value.message
    assert PASSWORD not in caught.value.message
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in caplog.text


async def test_required_starttls_is_not_skipped() -> None:
    mailbox = Mailbox()

    with smtp_server(mailbox) as port, pytest.raises(OutboundError):
        await send_email(
            settings_for(port, smtp_starttls=True), "ops@team.example", "Hi", "B"
        )

    assert mailbox.messages == []


async def test_unreachable_server_raises() -> None:
    with socket.socket() as held:
        # Bound but not listening: connections to it are refused.
        held.bind(("127.0.0.1", 0))
        settings = settings_for(held.getsockname()[1])

        with pytest.raises(OutboundError) as caught:
            await send_email(settings, "ops@team.example", "Hi", "Body")

    assert caught.value.attempts == 1
    assert "127.0.0.1" in caught.value.message


async def test_unset_host_raises() -> None:
    settings = Settings(smtp_host=None)

    with pytest.raises(OutboundError) as caught:
        await send_email(settings, "ops@team.example", "Hi", "Body")

    assert caught.value.message == "SMTP is not configured"


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("ops@team.example", "Hi\r\nBcc: victim@else.example"),
        ("ops@team.example, victim@else.example", "Hi"),
        ("Ops <ops@team.example>", "Hi"),
        ("ops@team.example\r\nBcc: victim@else.example", "Hi"),
        ("not-an-address", "Hi"),
    ],
)
async def test_injected_headers_are_refused(to: str, subject: str) -> None:
    mailbox = Mailbox()

    with smtp_server(mailbox) as port, pytest.raises(OutboundError):
        await send_email(settings_for(port), to, subject, "Body")

    assert mailbox.messages == []
