"""Reads of the directory that more than one caller needs: finding users and devices by their
facts (the workflow lookups), what a role may see through object scopes, agent tokens.

Selectors return querysets (or a ``Selection`` when a filter cannot be expressed in SQL) and
never write. Each filter is a keyword argument; ``None`` means "any".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from directory.choices import AgentTokenKind
from directory.models import AgentToken, Device, DeviceGroup, RoleMemberScope, User, UserGroup

__all__ = [
    "DateFilter",
    "Selection",
    "VersionRange",
    "agent_token_for",
    "device_has_agent",
    "devices_find",
    "parse_version",
    "scoped_visible",
    "users_find",
]


@dataclass(frozen=True)
class DateFilter:
    """A condition on a date or date-time field.

    ``before``/``after`` are strict (a date means the whole day: "after 2026-03-01" starts on
    March 2nd); ``older_than_days``/``newer_than_days`` count back from now (newer includes future
    values). All given conditions must hold. An empty field matches none of them unless
    ``or_missing``; ``missing`` alone (True) asks for empty fields, (False) for set ones.
    """

    before: dt.date | dt.datetime | None = None
    after: dt.date | dt.datetime | None = None
    older_than_days: int | None = None
    newer_than_days: int | None = None
    missing: bool | None = None
    or_missing: bool = False

    def q(self, field: str, *, is_datetime: bool, now: dt.datetime) -> Q:
        today = timezone.localdate(now)
        bounds = Q()
        if self.before is not None:
            bounds &= Q(**{f"{field}__lt": _start(self.before, is_datetime)})
        if self.after is not None:
            if isinstance(self.after, dt.datetime) or not is_datetime:
                bounds &= Q(**{f"{field}__gt": _as(self.after, is_datetime)})
            else:
                bounds &= Q(**{f"{field}__gte": _start(self.after + dt.timedelta(days=1), True)})
        if self.older_than_days is not None:
            edge = now - dt.timedelta(days=self.older_than_days)
            bounds &= Q(**{f"{field}__lt": edge if is_datetime else today - dt.timedelta(days=self.older_than_days)})
        if self.newer_than_days is not None:
            edge = now - dt.timedelta(days=self.newer_than_days)
            bounds &= Q(**{f"{field}__gte": edge if is_datetime else today - dt.timedelta(days=self.newer_than_days)})
        if self.missing is not None:
            bounds &= Q(**{f"{field}__isnull": self.missing})
        if self.or_missing:
            return bounds | Q(**{f"{field}__isnull": True})
        return bounds


def _as(value: dt.date | dt.datetime, is_datetime: bool) -> dt.date | dt.datetime:
    if is_datetime:
        return _aware(value) if isinstance(value, dt.datetime) else _start(value, True)
    return value.date() if isinstance(value, dt.datetime) else value


def _start(value: dt.date | dt.datetime, is_datetime: bool) -> dt.date | dt.datetime:
    """The first instant of a date (in the current time zone), or the value itself."""
    if isinstance(value, dt.datetime):
        return _aware(value) if is_datetime else value.date()
    if not is_datetime:
        return value
    return timezone.make_aware(dt.datetime.combine(value, dt.time.min))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value)


@dataclass
class Selection:
    """Rows found, in a stable order, that can be counted and paged. ``pks`` is set when a filter
    ran in Python (version comparisons): the matching ids in order."""

    rows: QuerySet
    pks: list[int] | None = None

    def total(self) -> int:
        return len(self.pks) if self.pks is not None else self.rows.count()

    def page(self, offset: int, limit: int) -> list[Any]:
        if self.pks is None:
            return list(self.rows[offset : offset + limit])
        wanted = self.pks[offset : offset + limit]
        found = {row.pk: row for row in self.rows.filter(pk__in=wanted)}
        return [found[pk] for pk in wanted if pk in found]


def _one_or_many(field: str, value: str | Sequence[str] | None, *, ignore_case: bool = False) -> Q:
    if value is None:
        return Q()
    values = [value] if isinstance(value, str) else list(value)
    if not ignore_case:
        return Q(**{f"{field}__in": values})
    q = Q(**{f"{field}__iexact": values[0]}) if values else Q(pk__in=[])
    for item in values[1:]:
        q |= Q(**{f"{field}__iexact": item})
    return q


def _flag(field: str, value: bool | None) -> Q:
    return Q() if value is None else Q(**{field: value})


def users_find(
    *,
    email: str | None = None,
    username: str | None = None,
    department: str | Sequence[str] | None = None,
    state: str | Sequence[str] | None = None,
    employee_type: str | Sequence[str] | None = None,
    group: UserGroup | None = None,
    manager: User | None = None,
    attributes: dict[str, Any] | None = None,
    last_login_at: DateFilter | None = None,
    hire_date: DateFilter | None = None,
    termination_date: DateFilter | None = None,
    mfa_enrolled: bool | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[User]:
    """Users matching every given filter, by username. Text matches ignore case; ``attributes``
    matches custom attributes key by key (a null value: the attribute is absent or null)."""
    now = now or timezone.now()
    rows = User.objects.filter(
        _one_or_many("email", email, ignore_case=True),
        _one_or_many("username", username, ignore_case=True),
        _one_or_many("department", department, ignore_case=True),
        _one_or_many("state", state),
        _one_or_many("employee_type", employee_type),
        _flag("mfa_enrolled", mfa_enrolled),
    )
    if group is not None:
        rows = rows.filter(pk__in=group.members.values("pk"))
    if manager is not None:
        rows = rows.filter(manager=manager)
    for field, spec, is_datetime in (
        ("last_login_at", last_login_at, True),
        ("hire_date", hire_date, False),
        ("termination_date", termination_date, False),
    ):
        if spec is not None:
            rows = rows.filter(spec.q(field, is_datetime=is_datetime, now=now))
    for index, (key, value) in enumerate((attributes or {}).items()):
        rows = _attribute_filter(rows, index, key, value)
    return rows.order_by("username")


def _attribute_filter(rows: QuerySet, index: int, key: str, value: Any) -> QuerySet:
    """Custom attribute ``key`` equals ``value``. The key is passed as data (``KeyTransform``), not
    parsed as a lookup path, so any key is safe, ``__`` included."""
    alias = f"_attr_{index}"
    rows = rows.alias(**{alias: KeyTransform(key, "attributes")})
    if value is None:
        return rows.filter(Q(**{f"{alias}__isnull": True}) | Q(**{alias: None}))
    return rows.filter(**{alias: value})


_VERSION_PART = re.compile(r"\d+")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"14.4.1"`` → ``(14, 4, 1)``; the leading numbers of ``"22.04 LTS"``; None when there are none."""
    head = re.match(r"\s*v?(\d+(?:[.\-_]\d+)*)", text or "")
    if head is None:
        return None
    return tuple(int(part) for part in _VERSION_PART.findall(head.group(1)))


def _compare(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


@dataclass(frozen=True)
class VersionRange:
    """OS versions ``below`` one (exclusive) and/or ``at_least`` another, compared number by number
    (``14.10`` is above ``14.9``). A device whose version has no number matches neither."""

    below: str | None = None
    at_least: str | None = None

    def matches(self, version: str) -> bool:
        parsed = parse_version(version)
        if parsed is None:
            return False
        for bound, ok in ((self.below, lambda c: c < 0), (self.at_least, lambda c: c >= 0)):
            if bound is None:
                continue
            limit = parse_version(bound)
            if limit is None or not ok(_compare(parsed, limit)):
                return False
        return True


def devices_find(
    *,
    owner: User | None = None,
    group: DeviceGroup | None = None,
    os_family: str | Sequence[str] | None = None,
    os_version: str | VersionRange | None = None,
    last_contact_at: DateFilter | None = None,
    disk_encrypted: bool | None = None,
    firewall_enabled: bool | None = None,
    locked: bool | None = None,
    active: bool | None = None,
    now: dt.datetime | None = None,
    base: QuerySet[Device] | None = None,
) -> Selection:
    """Devices matching every given filter, by hostname. ``os_version`` is an exact version, or a
    ``VersionRange`` (compared in Python over the ids and versions of the rows the other filters
    left, since version order is not text order)."""
    now = now or timezone.now()
    rows = (base if base is not None else Device.objects.all()).filter(
        _one_or_many("os_family", os_family),
        _flag("disk_encrypted", disk_encrypted),
        _flag("firewall_enabled", firewall_enabled),
        _flag("locked", locked),
        _flag("active", active),
    )
    if owner is not None:
        rows = rows.filter(owner=owner)
    if group is not None:
        rows = rows.filter(pk__in=group.members.values("pk"))
    if last_contact_at is not None:
        rows = rows.filter(last_contact_at.q("last_contact_at", is_datetime=True, now=now))
    if isinstance(os_version, str):
        rows = rows.filter(os_version=os_version)
    rows = rows.order_by("hostname")
    if isinstance(os_version, VersionRange):
        candidates = rows.prefetch_related(None).values_list("pk", "os_version")
        pks = [pk for pk, version in candidates if os_version.matches(version)]
        return Selection(rows, pks)
    return Selection(rows)


def scoped_visible(principal: Any, perm: str, model: type[models.Model]) -> Q | None:
    """The rows of ``model`` a principal may see through object scopes alone — guardian object
    permissions and, for users, member scopes ("users of group Sales") — as a filter, or None
    when it holds ``perm`` on no object at all. For principals without the model permission."""
    from guardian.shortcuts import get_objects_for_user

    if principal is None:
        return None
    app_label, codename = perm.split(".", 1)
    parts: list[Q] = []
    objects = get_objects_for_user(
        principal, perm, klass=model, accept_global_perms=False, with_superuser=False, use_groups=True
    )
    if objects.exists():
        parts.append(Q(pk__in=objects.values("pk")))
    if model is User:
        scoped_groups = RoleMemberScope.objects.filter(
            role__group__user=principal,
            permission__content_type__app_label=app_label,
            permission__codename=codename,
        ).values("user_group")
        if scoped_groups.exists():
            parts.append(Q(pk__in=UserGroup.members.through.objects.filter(usergroup__in=scoped_groups).values("user")))
    if not parts:
        return None
    visible = parts[0]
    for part in parts[1:]:
        visible |= part
    return visible


def agent_token_for(token: str, kinds: Iterable[str] = (AgentTokenKind.AGENT,)) -> AgentToken | None:
    """The stored token ``token`` is (any state: the caller says why one is refused), or None."""
    return (
        AgentToken.objects.select_related("device")
        .filter(key_hash=AgentToken.hash(token), kind__in=list(kinds))
        .first()
    )


def device_has_agent(device: Device) -> bool:
    """Whether an agent enrolled on the device holds a token that is not revoked."""
    return AgentToken.objects.filter(device=device, kind=AgentTokenKind.AGENT, revoked_at__isnull=True).exists()
