"""How a notification reaches each kind of channel: one transport class per ``ChannelKind``.

Adding a kind of channel is adding one class with ``@transport``. Chat and webhook transports post
through ``outbound`` (public addresses only, pinned, size-capped) and never name the webhook URL in
an error or a record: the URL is the credential.

Payloads:
- email list: one message to the channel's recipients (subject: the title);
- Slack incoming webhook: ``{"text": ...}`` in Slack's mrkdwn, the title in bold; ``&``, ``<`` and
  ``>`` are escaped as Slack asks, so directory values cannot ping ``<!channel>`` or forge links;
- Microsoft Teams: an Adaptive Card (``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": {...}}]}``), what Teams "Workflows"
  webhooks take — the older Office 365 connector MessageCards are being retired by Microsoft;
- generic webhook: Keyflow's JSON (see ``WebhookTransport.payload``), signed as ``signing`` says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.utils import timezone

from directory.choices import ChannelKind
from directory.models import NotificationChannel
from directory.services import channel_validate
from workflows.actions import outbound
from workflows.actions.base import ActionContext, ActionError
from workflows.actions.mail import check_address, send_email
from workflows.actions.signing import signature_headers

# Chat services answer with a word or a short JSON; nothing bigger is worth reading.
_MAX_REPLY_BYTES = 16 * 1024


@dataclass(frozen=True)
class Notification:
    """What to say: rendered by the DSL before the action runs."""

    text: str
    title: str = ""
    html: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What a transport did: the HTTP status (webhooks) or the recipients and Message-ID (email)."""

    status: int | None = None
    recipients: list[str] = field(default_factory=list)
    message_id: str | None = None


class Transport:
    """Sends a notification to one kind of channel."""

    kind: ClassVar[str]

    def send(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> Delivery:
        raise NotImplementedError


_TRANSPORTS: dict[str, Transport] = {}


def transport(cls: type[Transport]) -> type[Transport]:
    """Class decorator: the transport for channels of ``cls.kind``."""
    if cls.kind in _TRANSPORTS:
        raise ValueError(f"Transport for {cls.kind} is registered twice")
    _TRANSPORTS[cls.kind] = cls()
    return cls


def transport_for(channel: NotificationChannel) -> Transport:
    """The transport for the channel's kind, after the channel rules are checked again (a channel
    saved before a rule existed, or edited in the database, fails here with the field's message)."""
    try:
        channel_validate(channel)
    except ValidationError as exc:
        problems = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())
        raise ActionError(f"notification channel {channel.name!r} is misconfigured: {problems}") from None
    try:
        return _TRANSPORTS[channel.kind]
    except KeyError:
        raise ActionError(f"notification channel {channel.name!r} has an unknown kind {channel.kind!r}") from None


@transport
class EmailListTransport(Transport):
    kind = ChannelKind.EMAIL

    def send(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> Delivery:
        recipients = [check_address(address) for address in channel.recipients]
        message_id = send_email(
            to=recipients,
            subject=note.title or f"Keyflow: {ctx.workflow_name}",
            body=note.text,
            html=note.html or None,
            idempotency_key=ctx.idempotency_key,
            deadline=ctx.deadline,
        )
        return Delivery(recipients=recipients, message_id=message_id)


class _WebhookTransport(Transport):
    """A JSON POST to the channel's webhook URL."""

    what: ClassVar[str] = "webhook"

    def payload(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> dict[str, Any]:
        raise NotImplementedError

    def extra_headers(self, channel: NotificationChannel, body: bytes) -> dict[str, str]:
        return {}

    def send(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> Delivery:
        label = f"{self.what} of notification channel {channel.name!r}"
        url = outbound.parse_url(channel.webhook_url, what=f"the {label}", secret=True)
        # The URL's path and query carry its secret (Slack's token is the last segment); a server may echo
        # any part of them, so every long-enough part is kept out of messages too.
        path = url.raw_path.decode("ascii")
        parts = [path, *re.split(r"[/?&=]", path)]
        scrubber = outbound.Scrubber([channel.webhook_url, channel.signing_key, *(p for p in parts if len(p) >= 8)])
        body = json.dumps(self.payload(channel, note, ctx), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **self.extra_headers(channel, body)}
        if ctx.idempotency_key:
            headers["Idempotency-Key"] = ctx.idempotency_key
        response = outbound.request(
            "POST",
            url,
            label=label,
            headers=headers,
            content=body,
            deadline=ctx.deadline,
            scrubber=scrubber,
            max_bytes=_MAX_REPLY_BYTES,
        )
        outbound.check_status(response, label=label, deadline=ctx.deadline, scrubber=scrubber)
        return Delivery(status=response.status)


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities (its "Escaping text" rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@transport
class SlackTransport(_WebhookTransport):
    kind = ChannelKind.SLACK
    what = "Slack webhook"

    def payload(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> dict[str, Any]:
        text = slack_escape(note.text)
        if note.title:
            text = f"*{slack_escape(note.title)}*\n{text}"
        return {"text": text}


@transport
class TeamsTransport(_WebhookTransport):
    kind = ChannelKind.TEAMS
    what = "Teams webhook"

    def payload(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> dict[str, Any]:
        body: list[dict[str, Any]] = []
        if note.title:
            body.append({"type": "TextBlock", "text": note.title, "weight": "Bolder", "size": "Medium", "wrap": True})
        body.append({"type": "TextBlock", "text": note.text, "wrap": True})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }


@transport
class WebhookTransport(_WebhookTransport):
    kind = ChannelKind.WEBHOOK
    what = "webhook"

    def payload(self, channel: NotificationChannel, note: Notification, ctx: ActionContext) -> dict[str, Any]:
        return {
            "type": "keyflow.notification",
            "channel": channel.name,
            "title": note.title,
            "text": note.text,
            "data": note.data,
            "workflow": ctx.workflow_name,
            "execution_id": ctx.execution_id,
            "sent_at": timezone.now().isoformat(),
        }

    def extra_headers(self, channel: NotificationChannel, body: bytes) -> dict[str, str]:
        return signature_headers(body, key=channel.signing_key)
