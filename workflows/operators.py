"""The operators of structured conditions: one class each, registered by key.

The builder lists them (``all_operators()`` gives key, label, description and whether a
``right`` value is needed); the condition evaluator and validator look them up with
``get_operator``. Adding an operator is adding one class with ``@register``; nothing else
branches on operator keys.

Comparisons are forgiving where an admin would expect it and strict elsewhere: a number and
a numeric string compare as numbers (builder fields are text), a date or datetime and an ISO
string compare as times, and ``ignore_case`` folds strings. An ordering (gt, lt…) with None
on either side is false, as in SQL; comparing things that have no order (a list with a number)
is a ``ConditionError``, not a silent false.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator as py_operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from workflows import expressions
from workflows.expressions import ExpressionError

__all__ = [
    "MISSING",
    "ConditionError",
    "MembershipResolver",
    "Operator",
    "OperatorContext",
    "all_operators",
    "database_membership",
    "get_operator",
    "register",
]

# ``membership(user_ref, group_ref) -> bool``: is the user (an id, username or email) a member
# of the group (an id or name)?
MembershipResolver = Callable[[Any, Any], bool]


class ConditionError(ExpressionError):
    """A comparison cannot be made (wrong kind of value, bad regex, no event for ``changed``)."""


class _Missing:
    """The ``left`` of ``exists``/``empty`` when what it reads is not there at all."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class OperatorContext:
    """What an operator may use besides its two values: the scope (``changed`` reads
    ``event.changes``), the membership resolver, and whether to ignore case."""

    scope: dict[str, Any]
    membership: MembershipResolver
    ignore_case: bool = False

    def with_case(self, ignore_case: bool) -> OperatorContext:
        return self if ignore_case == self.ignore_case else replace(self, ignore_case=ignore_case)


class Operator:
    """Base class of every operator. Subclass, set the class attributes, implement ``test``."""

    key: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    # Whether the comparison has a ``right`` value (``exists`` and ``changed`` do not).
    takes_right: ClassVar[bool] = True
    # Whether a ``left`` that reads something undefined is a value (MISSING) rather than an error.
    tolerates_missing_left: ClassVar[bool] = False
    # Whether it reads ``event.changes``, so only makes sense in event workflows.
    needs_event: ClassVar[bool] = False

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        raise NotImplementedError

    def check_right(self, right: Any) -> str | None:
        """Why a literal ``right`` cannot work with this operator, or None (validation)."""
        return None

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The builder's entry for this operator."""
        return {"key": cls.key, "label": cls.label, "description": cls.description, "takes_right": cls.takes_right}


_OPERATORS: dict[str, Operator] = {}


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make the operator available under its key."""
    if cls.key in _OPERATORS:
        raise ValueError(f"Operator {cls.key} is registered twice")
    _OPERATORS[cls.key] = cls()
    return cls


def get_operator(key: str) -> Operator | None:
    """The operator for ``key``, or None if there is none."""
    return _OPERATORS.get(key)


def all_operators() -> list[Operator]:
    """Every operator, in the order the builder lists them."""
    return list(_OPERATORS.values())


# --- value helpers ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> int | float | None:
    """``value`` as a number if it is one or a numeric string, else None."""
    if _is_number(value):
        return value
    if isinstance(value, str):
        text = value.strip()
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                continue
    return None


def _fold(value: Any, ctx: OperatorContext) -> Any:
    if not ctx.ignore_case:
        return value
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list | tuple):
        return [_fold(item, ctx) for item in value]
    return value


def _coerce_pair(left: Any, right: Any, *, numeric_strings: bool = False) -> tuple[Any, Any]:
    """Make a number and a numeric string (or, for orderings, two numeric strings) compare as
    numbers, and a date or datetime and an ISO string compare as aware datetimes."""
    if _is_number(left) or _is_number(right) or (numeric_strings and isinstance(left, str) and isinstance(right, str)):
        as_numbers = _number(left), _number(right)
        if None not in as_numbers:
            return as_numbers
    if isinstance(left, dt.date) or isinstance(right, dt.date):
        try:
            return expressions.to_datetime(left), expressions.to_datetime(right)
        except ExpressionError:
            pass
    return left, right


def _equal(left: Any, right: Any, ctx: OperatorContext) -> bool:
    left, right = _coerce_pair(_fold(left, ctx), _fold(right, ctx))
    return left == right


def _order(left: Any, right: Any, ctx: OperatorContext, compare: Callable[[Any, Any], bool], key: str) -> bool:
    if left is None or right is None:
        return False
    folded = _coerce_pair(_fold(left, ctx), _fold(right, ctx), numeric_strings=True)
    try:
        return compare(*folded)
    except TypeError:
        raise ConditionError(f"{key!r} cannot compare {left!r} with {right!r}") from None


def _as_text(value: Any, key: str, side: str) -> str:
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value)
    raise ConditionError(f"{key!r} needs text on the {side}, got {value!r}")


@functools.lru_cache(maxsize=512)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ConditionError(f"not a valid regular expression: {exc}") from None


# --- equality and order ---------------------------------------------------------------------------


@register
class Equals(Operator):
    key = "eq"
    label = "equals"
    description = "Left equals right. A number and a numeric string compare as numbers."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return _equal(left, right, ctx)


@register
class NotEquals(Operator):
    key = "ne"
    label = "does not equal"
    description = "Left differs from right."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return not _equal(left, right, ctx)


class _Ordering(Operator):
    compare: ClassVar[Callable[[Any, Any], bool]]

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return _order(left, right, ctx, type(self).compare, self.key)


@register
class GreaterThan(_Ordering):
    key = "gt"
    label = "is greater than"
    description = "Left is greater (later, for dates) than right. False when either is empty (null)."
    compare = py_operator.gt


@register
class GreaterOrEqual(_Ordering):
    key = "gte"
    label = "is at least"
    description = "Left is greater than or equal to right. False when either is empty (null)."
    compare = py_operator.ge


@register
class LessThan(_Ordering):
    key = "lt"
    label = "is less than"
    description = "Left is less (earlier, for dates) than right. False when either is empty (null)."
    compare = py_operator.lt


@register
class LessOrEqual(_Ordering):
    key = "lte"
    label = "is at most"
    description = "Left is less than or equal to right. False when either is empty (null)."
    compare = py_operator.le


# --- membership in lists and text -----------------------------------------------------------------


def _list_right(right: Any, key: str) -> list[Any]:
    if not isinstance(right, list | tuple):
        raise ConditionError(f"{key!r} needs a list on the right, got {right!r}")
    return list(right)


class _InList(Operator):
    def check_right(self, right: Any) -> str | None:
        return None if isinstance(right, list) else f"{self.key!r} needs a list on the right"

    def found(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return any(_equal(left, item, ctx) for item in _list_right(right, self.key))


@register
class In(_InList):
    key = "in"
    label = "is one of"
    description = "Left equals one of the values in the right list."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return self.found(left, right, ctx)


@register
class NotIn(_InList):
    key = "not_in"
    label = "is none of"
    description = "Left equals none of the values in the right list."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return not self.found(left, right, ctx)


@register
class Contains(Operator):
    key = "contains"
    label = "contains"
    description = "Left text contains right text, left list has an item equal to right, or left object has key right."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        if isinstance(left, str):
            return _fold(_as_text(right, self.key, "right"), ctx) in _fold(left, ctx)
        if isinstance(left, list | tuple):
            return any(_equal(item, right, ctx) for item in left)
        if isinstance(left, dict):
            return _fold(right, ctx) in {_fold(key, ctx) for key in left}
        raise ConditionError(f"{self.key!r} needs text, a list or an object on the left, got {left!r}")


class _TextEnd(Operator):
    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        text = _fold(_as_text(left, self.key, "left"), ctx)
        return self.matches_end(text, _fold(_as_text(right, self.key, "right"), ctx))

    def matches_end(self, text: str, part: str) -> bool:
        raise NotImplementedError


@register
class StartsWith(_TextEnd):
    key = "starts_with"
    label = "starts with"
    description = "Left text starts with right text."

    def matches_end(self, text: str, part: str) -> bool:
        return text.startswith(part)


@register
class EndsWith(_TextEnd):
    key = "ends_with"
    label = "ends with"
    description = "Left text ends with right text (e.g. an email domain)."

    def matches_end(self, text: str, part: str) -> bool:
        return text.endswith(part)


@register
class Matches(Operator):
    key = "matches"
    label = "matches pattern"
    description = "The regular expression on the right is found in left text (Python re.search)."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        pattern = _regex(_as_text(right, self.key, "right"), ctx.ignore_case)
        return pattern.search(_as_text(left, self.key, "left")) is not None

    def check_right(self, right: Any) -> str | None:
        if not isinstance(right, str):
            return f"{self.key!r} needs a regular expression (text) on the right"
        try:
            _regex(right, False)
        except ConditionError as exc:
            return exc.message
        return None


# --- presence -------------------------------------------------------------------------------------


@register
class Exists(Operator):
    key = "exists"
    label = "is set"
    description = "Left is defined and not null."
    takes_right = False
    tolerates_missing_left = True

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return left is not MISSING and left is not None


@register
class Empty(Operator):
    key = "empty"
    label = "is empty"
    description = "Left is undefined, null, empty text, an empty list or an empty object."
    takes_right = False
    tolerates_missing_left = True

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return left is MISSING or left is None or (isinstance(left, str | list | tuple | dict) and len(left) == 0)


# --- changes in the triggering event ------------------------------------------------------------


class _ChangeOperator(Operator):
    """``left`` names a field (``"department"``); the change is looked up in ``event.changes``."""

    needs_event = True

    def change(self, field: Any, ctx: OperatorContext) -> dict[str, Any] | None:
        event = ctx.scope.get("event")
        if not isinstance(event, dict):
            raise ConditionError(f"{self.key!r} needs the event that started the workflow, and there is none")
        for change in event.get("changes") or ():
            if isinstance(change, dict) and change.get("field") == field:
                return change
        return None


@register
class Changed(_ChangeOperator):
    key = "changed"
    label = "changed"
    description = "The field named on the left changed in the event that started the workflow."
    takes_right = False

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        return self.change(left, ctx) is not None


@register
class ChangedFrom(_ChangeOperator):
    key = "changed_from"
    label = "changed from"
    description = "The field named on the left changed, and its old value equals right."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        change = self.change(left, ctx)
        return change is not None and _equal(change.get("from"), right, ctx)


@register
class ChangedTo(_ChangeOperator):
    key = "changed_to"
    label = "changed to"
    description = "The field named on the left changed, and its new value equals right."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        change = self.change(left, ctx)
        return change is not None and _equal(change.get("to"), right, ctx)


# --- group membership -----------------------------------------------------------------------------


def _group_id(ref: Any) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    if isinstance(ref, str) and ref.strip().isdigit():
        return int(ref)
    return None


def _group_matches(group: Any, ref: Any) -> bool:
    """Whether one of a user's groups (``{"id", "name"}``, a name or an id) is ``ref``."""
    if isinstance(group, dict):
        group_id, name = group.get("id"), group.get("name")
    else:
        group_id, name = group, group
    ref_id = _group_id(ref)
    if ref_id is not None and _group_id(group_id) == ref_id:
        return True
    return isinstance(name, str) and isinstance(ref, str) and name.casefold() == ref.strip().casefold()


def _user_ref(user: Any) -> Any:
    if isinstance(user, dict):
        for key in ("id", "username", "email"):
            if user.get(key) not in (None, ""):
                return user[key]
        raise ConditionError("'member_of' needs a user with an id, username or email on the left")
    return user


def _valid_group_ref(ref: Any) -> bool:
    return (isinstance(ref, int) and not isinstance(ref, bool)) or (isinstance(ref, str) and bool(ref.strip()))


@register
class MemberOf(Operator):
    key = "member_of"
    label = "is member of"
    description = (
        "The user on the left (a user object, id, username or email) is in the group on the right "
        "(a name or id, or a list of them: any)."
    )

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        refs = right if isinstance(right, list) else [right]
        if not refs or not all(_valid_group_ref(ref) for ref in refs):
            raise ConditionError(f"{self.key!r} needs a group name or id on the right, got {right!r}")
        if isinstance(left, dict) and isinstance(left.get("groups"), list):
            return any(_group_matches(group, ref) for group in left["groups"] for ref in refs)
        user = _user_ref(left)
        return any(ctx.membership(user, ref) for ref in refs)

    def check_right(self, right: Any) -> str | None:
        refs = right if isinstance(right, list) else [right]
        if refs and all(_valid_group_ref(ref) for ref in refs):
            return None
        return f"{self.key!r} needs a group name or id (or a list of them) on the right"


def database_membership(user_ref: Any, group_ref: Any) -> bool:
    """The default ``member_of`` resolver: one EXISTS query on the directory.

    ``user_ref`` is an id, username or email, ``group_ref`` an id or name (names and natural
    keys compare case-insensitively, as action params do). A user or group that does not
    exist is simply not a member.
    """
    from directory.models import UserGroup

    group_q = _reference_q(group_ref, "", ("name",))
    user_q = _reference_q(user_ref, "members__", ("username", "email"))
    return UserGroup.objects.filter(group_q).filter(user_q).exists()


def _reference_q(ref: Any, prefix: str, natural_keys: tuple[str, ...]) -> Any:
    from django.db.models import Q

    if isinstance(ref, int) and not isinstance(ref, bool):
        return Q(**{f"{prefix}pk": ref})
    text = str(ref).strip()
    query = Q()
    for key in natural_keys:
        query |= Q(**{f"{prefix}{key}__iexact": text})
    if text.isdigit():
        query |= Q(**{f"{prefix}pk": int(text)})
    return query


# --- age of dates ---------------------------------------------------------------------------------


class _AgeOperator(Operator):
    def age_and_limit(self, left: Any, right: Any) -> tuple[dt.timedelta, dt.timedelta]:
        days = _number(right)
        if days is None:
            raise ConditionError(f"{self.key!r} needs a number of days on the right, got {right!r}")
        try:
            limit = dt.timedelta(days=days)
        except (OverflowError, ValueError):
            raise ConditionError(f"{self.key!r}: {right!r} days is out of range") from None
        try:
            when = expressions.to_datetime(left)
        except ExpressionError as exc:
            raise ConditionError(f"{self.key!r}: {exc.message}") from None
        return expressions.now() - when, limit

    def check_right(self, right: Any) -> str | None:
        return None if _number(right) is not None else f"{self.key!r} needs a number of days on the right"


@register
class OlderThanDays(_AgeOperator):
    key = "older_than_days"
    label = "is more than N days ago"
    description = "The date or time on the left is more than right days before now. False when left is empty."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        age, limit = self.age_and_limit(left, right)
        return age > limit


@register
class NewerThanDays(_AgeOperator):
    key = "newer_than_days"
    label = "is less than N days ago"
    description = "The date or time on the left is less than right days before now (or in the future)."

    def test(self, left: Any, right: Any, ctx: OperatorContext) -> bool:
        if left is None:
            return False
        age, limit = self.age_and_limit(left, right)
        return age < limit
