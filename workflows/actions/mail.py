"""Email for workflow actions (``notify.email``, email-list channels), through Django's backend.

The Message-ID is derived from the step's idempotency key, so a message sent again after a worker
died between sending and recording carries the same id, which mail systems use to spot the repeat.
"""

from __future__ import annotations

import hashlib
import smtplib
import time
from collections.abc import Sequence
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.core.validators import validate_email

from workflows.actions.base import ActionError

MAX_RECIPIENTS = 100


def check_address(address: str, *, what: str = "recipient") -> str:
    """``address`` stripped, or an error naming it."""
    address = address.strip() if isinstance(address, str) else address
    try:
        validate_email(address)
    except ValidationError:
        raise ActionError(f"{what} {address!r} is not a valid email address") from None
    return address


def message_id(idempotency_key: str) -> str:
    """A Message-ID for the step: stable across a repeated attempt with the same key."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "keyflow.invalid"
    if not idempotency_key:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<keyflow.{digest}@{domain}>"


def send_email(
    *,
    to: Sequence[str],
    subject: str,
    body: str,
    html: str | None = None,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    idempotency_key: str = "",
    deadline: float | None = None,
) -> str:
    """Send one message; returns its Message-ID. SMTP failures become ``ActionError``s, retryable
    when the server or the network may recover (a dropped connection, a 4xx reply)."""
    recipients = [*to, *cc, *bcc]
    if not recipients:
        raise ActionError("the message has no recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise ActionError(f"{len(recipients)} recipients; at most {MAX_RECIPIENTS} per message")
    timeout = settings.EMAIL_TIMEOUT
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ActionError("timed out before the message was sent", retryable=True)
        timeout = min(timeout, left) if timeout else left
    mid = message_id(idempotency_key)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.splitlines()).strip(),  # one header line, whatever the template rendered
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        cc=list(cc),
        bcc=list(bcc),
        reply_to=list(reply_to),
        headers={"Message-ID": mid},
        connection=get_connection(fail_silently=False, timeout=timeout),
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        message.send()
    except BadHeaderError as exc:
        raise ActionError(f"the message has an invalid header: {exc}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise ActionError(f"the mail server refused every recipient: {', '.join(sorted(exc.recipients))}") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise ActionError(
            f"the mail server answered {exc.smtp_code}: {text}", retryable=400 <= exc.smtp_code < 500
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise ActionError(f"the mail server closed the connection: {exc}", retryable=True) from None
    except smtplib.SMTPException as exc:  # before OSError, which it subclasses
        raise ActionError(f"sending the message failed: {exc}") from None
    except OSError as exc:  # refused, unreachable, timed out
        raise ActionError(f"could not reach the mail server: {exc}", retryable=True) from None
    return mid
