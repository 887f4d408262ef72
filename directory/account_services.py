"""Writes to admin accounts (the people who sign in; Django's auth users).

Every change is written to the directory event log with its actor, like a change to the
directory itself; the role an account holds is changed by ``role_services.admin_set_role``.
Passwords never reach the log, only that one was set. Run-as principals are not admin accounts
and are never changed here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from directory.actors import ActorLike, acting_as
from directory.choices import ResourceType
from directory.event_log import PendingEvent, record_events
from directory.models import AdminRole
from directory.role_services import PRINCIPAL_PREFIX, refuse_beyond_actor, role_grants

__all__ = [
    "ACCOUNT_FIELDS",
    "admin_account_create",
    "admin_account_delete",
    "admin_account_set_password",
    "admin_account_update",
    "refuse_superuser_target",
]

ACCOUNT_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
_ACCOUNT = ResourceType.ADMIN_ACCOUNT


def _snapshot(account: Any) -> dict[str, Any]:
    role = AdminRole.objects.select_related("group").filter(group__user=account).first()
    return {**{name: getattr(account, name) for name in ACCOUNT_FIELDS}, "role": role.name if role else None}


def _event(event_type: str, account: Any, **kwargs: Any) -> PendingEvent:
    return PendingEvent(event_type, _ACCOUNT, account, resource_name=account.get_username(), **kwargs)


def _check_fields(fields: dict[str, Any], actor: ActorLike, account: Any | None) -> None:
    unknown = sorted(set(fields) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    username = fields.get("username")
    if username is not None:
        if username.lower().startswith(PRINCIPAL_PREFIX):
            raise ValidationError({"username": f"Names starting with {PRINCIPAL_PREFIX} are kept for run-as accounts."})
        taken = get_user_model().objects.filter(username__iexact=username)
        if account is not None:
            taken = taken.exclude(pk=account.pk)
        if taken.exists():
            raise ValidationError({"username": "An account with this username already exists."})
    if fields.get("is_superuser") and hasattr(actor, "get_all_permissions") and not actor.is_superuser:
        # A superuser holds every permission, so only a superuser (or the system) may make one.
        raise ValidationError({"is_superuser": "Only a superuser can make an account a superuser."})


def _refuse_principal(account: Any) -> None:
    if hasattr(account, "principal_of"):
        raise ValidationError("This is a role's run-as account; it changes with its role.")


def refuse_superuser_target(account: Any, actor: ActorLike) -> None:
    """Only a superuser may change a superuser's account: whoever could set its password could
    sign in as it and hold every permission."""
    if account.is_superuser and hasattr(actor, "get_all_permissions") and not actor.is_superuser:
        raise ValidationError("Only a superuser can change a superuser's account.")


@transaction.atomic
def admin_account_create(
    *, actor: ActorLike, username: str, password: str | None, role: AdminRole | None = None, **fields: Any
) -> Any:
    """Create a staff account that can sign in (``password=None``: no password sign-in) holding ``role``."""
    fields = {"is_staff": True, **fields, "username": username}
    _check_fields(fields, actor, None)
    account = get_user_model()(**fields)
    if password is None:
        account.set_unusable_password()
    else:
        account.set_password(password)
    account.save()
    if role is not None:  # part of the creation, so the created event (its snapshot) says it
        refuse_beyond_actor(role_grants(role), actor, "role")
        account.groups.set([role.group])
    with acting_as(actor):
        record_events([_event("admin_account.created", account, snapshot=_snapshot(account))])
    return account


@transaction.atomic
def admin_account_update(*, account: Any, actor: ActorLike, **fields: Any) -> Any:
    """Change an account's name, email or access flags; one event listing what changed."""
    _refuse_principal(account)
    stored = get_user_model().objects.select_for_update().get(pk=account.pk)
    refuse_superuser_target(stored, actor)
    changed = {name: value for name, value in fields.items() if getattr(stored, name, None) != value}
    _check_fields(changed, actor, stored)
    if not changed:
        return stored
    changes = [{"field": name, "from": getattr(stored, name), "to": value} for name, value in changed.items()]
    for name, value in changed.items():
        setattr(stored, name, value)
    stored.save(update_fields=list(changed))
    with acting_as(actor):
        record_events([_event("admin_account.updated", stored, changes=changes)])
    return stored


@transaction.atomic
def admin_account_set_password(*, account: Any, password: str | None, actor: ActorLike) -> Any:
    """Set the account's password, or disable password sign-in (``None``). The log says which, never the value."""
    _refuse_principal(account)
    refuse_superuser_target(account, actor)
    if password is None:
        account.set_unusable_password()
    else:
        account.set_password(password)
    account.save(update_fields=["password"])
    with acting_as(actor):
        change = {"field": "password", "from": None, "to": "set" if password is not None else "disabled"}
        record_events([_event("admin_account.password_changed", account, changes=[change])])
    return account


@transaction.atomic
def admin_account_delete(*, account: Any, actor: ActorLike) -> None:
    """Delete an admin account; the event keeps what it was and which role it held."""
    _refuse_principal(account)
    refuse_superuser_target(account, actor)
    with acting_as(actor):
        record_events([_event("admin_account.deleted", account, snapshot=_snapshot(account))])
    account.delete()
