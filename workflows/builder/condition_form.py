"""The structured condition editor: rows of field / operator / value, grouped by all / any / not.

A condition the editor can show as rows is edited as rows: a top-level "match all / any" of
comparisons and groups (each group its own all / any of comparisons), where the top level, a
group or a single row may be negated ("not"). Anything deeper, and expressions, are edited as
raw text — the escape hatch — which takes an expression (``event.user.department == 'Sales'``)
or a condition as JSON. Operators come from ``workflows.operators``' registry.

The editor's state is read from the posted form (``from_post``), not only from the document,
so rows that are still empty survive the panel being redrawn; rows without a field are left out
of the condition the document gets (``to_condition``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.expressions import is_template
from workflows.operators import Operator, all_operators, get_operator

__all__ = ["ConditionForm", "Group", "Row", "operator_choices"]

RULES, EXPRESSION = "rules", "expression"


def operator_choices() -> list[dict[str, Any]]:
    """Every operator for the select: key, label, description, whether it takes a value."""
    return [op.describe() for op in all_operators()]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) and "," not in v for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _right_value(text: str, operator: Operator | None) -> Any:
    """The right side as the operator needs it. Text stays text — operators compare numeric text
    as numbers, so "30" works for ``gt`` and ``older_than_days`` alike — except ``true``/``false``,
    a JSON list, and a comma-separated list where the operator needs a list."""
    text = text.strip()
    if is_template(text):
        return text
    if text in {"true", "false"}:
        return text == "true"
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            return value
    if operator is not None and operator.check_right(text) and "," in text:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if operator.check_right(parts) is None:
            return parts
    return text


@dataclass
class Row:
    """One comparison."""

    id: str
    left: str = ""
    op: str = "eq"
    right: str = ""
    ignore_case: bool = False
    negate: bool = False
    focus: bool = False

    @property
    def takes_right(self) -> bool:
        operator = get_operator(self.op)
        return operator.takes_right if operator else True

    def to_condition(self) -> Any:
        operator = get_operator(self.op)
        comparison: dict[str, Any] = {"left": self.left.strip(), "op": self.op}
        if operator is None or operator.takes_right:
            comparison["right"] = _right_value(self.right, operator)
        if self.ignore_case:
            comparison["ignore_case"] = True
        return {"not": comparison} if self.negate else comparison

    @classmethod
    def of(cls, row_id: str, condition: Any) -> Row | None:
        negate = False
        if isinstance(condition, dict) and list(condition) == ["not"]:
            negate, condition = True, condition["not"]
        if not isinstance(condition, dict) or "op" not in condition:
            return None
        if set(condition) - {"left", "op", "right", "ignore_case"} or not isinstance(condition.get("op"), str):
            return None
        left = condition.get("left", "")
        if not isinstance(left, str):
            return None
        return cls(
            id=row_id,
            left=left,
            op=condition["op"],
            right=_text(condition.get("right")),
            ignore_case=condition.get("ignore_case") is True,
            negate=negate,
        )


@dataclass
class Group:
    """A nested all / any of comparisons."""

    id: str
    match: str = "all"
    negate: bool = False
    rows: list[Row] = field(default_factory=list)

    def to_condition(self) -> Any:
        rows = [row.to_condition() for row in self.rows if row.left.strip()]
        if not rows:
            return None
        condition = {self.match: rows}
        return {"not": condition} if self.negate else condition


@dataclass
class ConditionForm:
    """The editor's state for the condition named by ``prefix`` in the panel's form."""

    prefix: str
    mode: str = RULES
    match: str = "all"
    negate: bool = False
    items: list[Row | Group] = field(default_factory=list)
    raw: str = ""
    next_id: int = 0

    # --- from the document ---------------------------------------------------------------------

    @classmethod
    def from_condition(cls, prefix: str, condition: Any) -> ConditionForm:
        form = cls(prefix=prefix)
        if condition in (None, ""):
            form.items = [form._new_row()]
            return form
        if isinstance(condition, bool | str):
            form.mode, form.raw = EXPRESSION, _text(condition) if isinstance(condition, str) else json.dumps(condition)
            return form
        if form._read_structured(condition):
            return form
        return cls(prefix=prefix, mode=EXPRESSION, raw=json.dumps(condition, indent=2, ensure_ascii=False))

    def _new_row(self, **values: Any) -> Row:
        self.next_id += 1
        return Row(id=f"r{self.next_id}", **values)

    def _read_structured(self, condition: Any) -> bool:
        if isinstance(condition, dict) and list(condition) == ["not"] and isinstance(condition["not"], dict):
            inner = condition["not"]
            if "all" in inner or "any" in inner:
                self.negate, condition = True, inner
        row = Row.of("r0", condition)
        if row is not None:
            self.items = [self._new_row(**{k: v for k, v in row.__dict__.items() if k != "id"})]
            return True
        if not isinstance(condition, dict) or len(condition) != 1 or next(iter(condition)) not in {"all", "any"}:
            return False
        ((self.match, parts),) = condition.items()
        if not isinstance(parts, list):
            return False
        for part in parts:
            row = Row.of("", part)
            if row is not None:
                self.items.append(self._new_row(**{k: v for k, v in row.__dict__.items() if k != "id"}))
                continue
            group = self._read_group(part)
            if group is None:
                self.items = []
                return False
            self.items.append(group)
        return bool(self.items)

    def _read_group(self, part: Any) -> Group | None:
        negate = False
        if isinstance(part, dict) and list(part) == ["not"]:
            negate, part = True, part["not"]
        if not isinstance(part, dict) or len(part) != 1 or next(iter(part)) not in {"all", "any"}:
            return None
        ((match, rows),) = part.items()
        if not isinstance(rows, list) or not rows:
            return None
        self.next_id += 1
        group = Group(id=f"g{self.next_id}", match=match, negate=negate)
        for item in rows:
            row = Row.of("", item)
            if row is None:
                return None
            group.rows.append(self._new_row(**{k: v for k, v in row.__dict__.items() if k != "id"}))
        return group

    # --- from the posted form ------------------------------------------------------------------

    def _name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    @classmethod
    def from_post(cls, prefix: str, data: QueryDict) -> ConditionForm:
        form = cls(prefix=prefix, mode=data.get(f"{prefix}mode", RULES))
        form.match = "any" if data.get(f"{prefix}match") == "any" else "all"
        form.negate = data.get(f"{prefix}negate") == "on"
        form.raw = data.get(f"{prefix}raw", "")
        numbers = []
        for item_id in data.getlist(f"{prefix}items"):
            if item_id.startswith("g"):
                group = Group(
                    id=item_id,
                    match="any" if data.get(f"{prefix}{item_id}-match") == "any" else "all",
                    negate=data.get(f"{prefix}{item_id}-negate") == "on",
                )
                for row_id in data.getlist(f"{prefix}{item_id}-rows"):
                    group.rows.append(form._posted_row(row_id, data))
                form.items.append(group)
            elif item_id.startswith("r"):
                form.items.append(form._posted_row(item_id, data))
            numbers.append(item_id)
            numbers += data.getlist(f"{prefix}{item_id}-rows")
        form.next_id = max((int(n[1:]) for n in numbers if n[1:].isdigit()), default=0)
        if form.mode == RULES and not form.items:
            form.items = [form._new_row()]
        return form

    def _posted_row(self, row_id: str, data: QueryDict) -> Row:
        name = f"{self.prefix}{row_id}-"
        return Row(
            id=row_id,
            left=data.get(f"{name}left", ""),
            op=data.get(f"{name}op", "eq"),
            right=data.get(f"{name}right", ""),
            ignore_case=data.get(f"{name}case") == "on",
            negate=data.get(f"{name}not") == "on",
        )

    # --- to the document -----------------------------------------------------------------------

    def to_condition(self) -> Any:
        """The condition for the document, or None when nothing is filled in."""
        if self.mode == EXPRESSION:
            text = self.raw.strip()
            if not text:
                return None
            if text[0] in "{[" or text in {"true", "false"}:
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return text
            return text
        parts = [item.to_condition() if isinstance(item, Group) else _row(item) for item in self.items]
        parts = [part for part in parts if part is not None]
        if not parts:
            return None
        if len(parts) == 1 and not self.negate and isinstance(self.items[0], Row | Group):
            return parts[0]
        condition = {self.match: parts}
        return {"not": condition} if self.negate else condition

    # --- editing -------------------------------------------------------------------------------

    def apply(self, op: str) -> None:
        """A button's edit: ``add-row``, ``add-row:<group>``, ``add-group``, ``remove:<id>``,
        ``mode:rules`` or ``mode:expression``."""
        name, _, target = op.partition(":")
        if name == "add-row":
            row = self._new_row(focus=True)
            group = next((g for g in self.items if isinstance(g, Group) and g.id == target), None)
            (group.rows if group else self.items).append(row)
        elif name == "add-group":
            self.next_id += 1
            group = Group(id=f"g{self.next_id}")
            group.rows.append(self._new_row(focus=True))
            self.items.append(group)
        elif name == "remove":
            self.items = [i for i in self.items if i.id != target]
            for group in (i for i in self.items if isinstance(i, Group)):
                group.rows = [r for r in group.rows if r.id != target]
            self.items = [i for i in self.items if not (isinstance(i, Group) and not i.rows)]
            if not self.items:
                self.items = [self._new_row(focus=True)]
        elif name == "mode" and target in {RULES, EXPRESSION}:
            self._switch_mode(target)

    def _switch_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        if mode == EXPRESSION:
            condition = self.to_condition()
            self.raw = "" if condition is None else json.dumps(condition, indent=2, ensure_ascii=False)
            self.mode = EXPRESSION
            return
        condition = self.to_condition()
        converted = ConditionForm.from_condition(self.prefix, condition)
        if converted.mode == RULES:
            self.mode, self.match, self.negate, self.items = RULES, converted.match, converted.negate, converted.items
            self.next_id = converted.next_id
        else:
            # An expression cannot be shown as rows: start rows afresh, keeping the text one
            # click away (switching back shows the rows' condition).
            self.mode, self.items = RULES, [self._new_row(focus=True)]


def _row(row: Row) -> Any:
    return row.to_condition() if row.left.strip() else None
