"""Notification actions: an email, or a message to a notification channel."""

from __future__ import annotations

from typing import Any

from workflows.actions.base import EXTERNAL, Action, ActionContext, ActionError
from workflows.actions.mail import MAX_RECIPIENTS, check_address, send_email
from workflows.actions.registry import register
from workflows.actions.resolvers import reference_schema, resolve
from workflows.actions.transports import Notification, transport_for

_RECIPIENT = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "integer", "minimum": 1},
        {"type": "object", "required": ["id"]},
    ]
}


def _recipients(title: str, description: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": _RECIPIENT, "minItems": 1, "maxItems": MAX_RECIPIENTS},
        ],
    }


@register
class NotifyEmail(Action):
    key = "notify.email"
    label = "Send email"
    category = "Notifications"
    description = (
        "Send an email through Keyflow's mail server to addresses or directory users (a user is sent to at "
        "their email address), with a plain-text body and an optional HTML version."
    )
    params_schema = {
        "type": "object",
        "required": ["to", "subject", "body"],
        "properties": {
            "to": _recipients(
                "To",
                "Email addresses or users (id, username or email; a user object from an expression): one, or a list",
            ),
            "cc": _recipients("Cc", "Copy to: addresses or users, like To"),
            "bcc": _recipients("Bcc", "Blind copy to: addresses or users, like To"),
            "subject": {"type": "string", "minLength": 1, "maxLength": 998, "title": "Subject"},
            "body": {"type": "string", "title": "Body", "description": "The message as plain text"},
            "html": {
                "type": "string",
                "title": "HTML body",
                "description": "Optional HTML version of the message; mail programs show it instead of the text",
            },
            "reply_to": {
                "title": "Reply to",
                "description": "Addresses replies should go to",
                "oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}}],
            },
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            "recipients": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Every address the message went to (to, cc and bcc)",
            },
            "message_id": {"type": "string", "description": "The message's Message-ID header"},
        },
    }
    # Sending to addresses needs no directory permission; naming users needs ``directory.view_user`` on
    # each of them (checked at run time), since their address is read from the directory.
    permissions = ()
    effect = EXTERNAL

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        to = _addresses(ctx, params["to"], "to")
        cc = _addresses(ctx, params.get("cc"), "cc")
        bcc = _addresses(ctx, params.get("bcc"), "bcc")
        reply_to = [check_address(a, what="reply_to address") for a in _as_list(params.get("reply_to"))]
        if not to:
            raise ActionError("to: no recipients")
        message_id = send_email(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=str(params["subject"]),
            body=str(params["body"]),
            html=params.get("html") or None,
            idempotency_key=ctx.idempotency_key,
            deadline=ctx.deadline,
        )
        return {"recipients": [*to, *cc, *bcc], "message_id": message_id}


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _addresses(ctx: ActionContext, value: Any, field: str) -> list[str]:
    """Addresses as given, users as their email address (the run-as role must see each user)."""
    addresses: list[str] = []
    for item in _as_list(value):
        if isinstance(item, str) and "@" in item and not item.strip().isdigit():
            address = check_address(item, what=f"{field} address")
        else:
            user: Any = resolve("user", item)
            ctx.require("directory.view_user", user, verb="email", noun="user")
            if not user.email:
                raise ActionError(f"user {user.username} has no email address")
            address = user.email
        if address.lower() not in {a.lower() for a in addresses}:
            addresses.append(address)
    return addresses


@register
class NotifyChannel(Action):
    key = "notify.channel"
    label = "Notify a channel"
    category = "Notifications"
    description = (
        "Send a message to a notification channel: its email list, its Slack or Microsoft Teams webhook, or "
        "its generic webhook (a signed JSON POST)."
    )
    params_schema = {
        "type": "object",
        "required": ["channel", "text"],
        "properties": {
            "channel": {**reference_schema("channel"), "title": "Channel"},
            "title": {
                "type": "string",
                "title": "Title",
                "description": "A heading: the subject of an email, bold in Slack, the card title in Teams",
            },
            "text": {"type": "string", "minLength": 1, "title": "Message", "description": "The message itself"},
            "html": {"type": "string", "title": "HTML", "description": "An HTML version, for email lists only"},
            "data": {
                "type": "object",
                "title": "Data",
                "description": 'Extra fields for a generic webhook\'s receiver (sent as "data"); ignored elsewhere',
            },
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            "channel": {"type": "string", "description": "The channel's name"},
            "kind": {"type": "string", "description": "email, slack, teams or webhook"},
            "status": {"type": ["integer", "null"], "description": "The webhook's HTTP status (null for email)"},
            "recipients": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The addresses an email list's message went to (empty for webhooks)",
            },
            "message_id": {"type": ["string", "null"], "description": "An email's Message-ID (null for webhooks)"},
        },
    }
    permissions = ("directory.view_notificationchannel",)
    effect = EXTERNAL

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        channel = resolve("channel", params["channel"])
        ctx.require("directory.view_notificationchannel", channel, verb="notify", noun="channel")
        if not channel.enabled:
            raise ActionError(f"notification channel {channel.name!r} is disabled")
        data = params.get("data") or {}
        if not isinstance(data, dict):
            raise ActionError("data must be an object")
        note = Notification(
            text=str(params["text"]),
            title=str(params.get("title") or ""),
            html=str(params.get("html") or ""),
            data=data,
        )
        delivery = transport_for(channel).send(channel, note, ctx)
        return {
            "channel": channel.name,
            "kind": channel.kind,
            "status": delivery.status,
            "recipients": delivery.recipients,
            "message_id": delivery.message_id,
        }
