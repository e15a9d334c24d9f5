"""E-mail notifications over SMTP, configured by the SMTP_* settings."""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from gql_service.config import Settings
from gql_service.outbound.http import OutboundError

logger = logging.getLogger(__name__)

# One plain address: no display name, list or header text that could add
# recipients the workflow author did not write.
_ADDRESS = re.compile(r"^[^@\s,;:<>()\[\]\"\\]+@[^@\s,;:<>()\[\]\"\\]+$")


async def send_email(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text message to ``to``; raises OutboundError on failure."""
    if not settings.smtp_host:
        raise OutboundError("SMTP is not configured")
    message = _build_message(settings.smtp_from, to, subject, body)
    server = f"{settings.smtp_host}:{settings.smtp_port}"

    password = settings.smtp_password
    try:
        await aiosmtplib.send(
            message,
            sender=settings.smtp_from,
            recipients=[to],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            use_tls=settings.smtp_use_tls,
            start_tls=settings.smtp_starttls and not settings.smtp_use_tls,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # The class and SMTP code only: a server's reply text is not ours to
        # repeat, and nothing here may carry the password.
        raise OutboundError(
            f"sending e-mail through {server} failed ({_describe(exc)})",
            attempts=1,
        ) from exc

    logger.info("e-mail sent through %s", server)


def _build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    if not _ADDRESS.match(to):
        raise OutboundError("the recipient is not a single e-mail address")
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
    except ValueError as exc:
        raise OutboundError("the e-mail subject or sender is not valid") from exc
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def _describe(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    name = type(exc).__name__
    return f"{name} {code}" if isinstance(code, int) else name
