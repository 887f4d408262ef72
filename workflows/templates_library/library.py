"""The template library: one JSON file per template in this folder, loaded once and checked.

A template is a DSL document with ``${input}`` placeholders plus the few inputs it asks for.
A string that is exactly one placeholder becomes the input's value with its type (a number, a
list of groups); inside longer text the value is written in (``Onboarding: ${department}``).
``${at.hour}`` reads a part of a value (a time's hour, for a cron). Files are checked when
loaded — every placeholder names a declared input, every input is used, the category and the
suggested role exist — so a broken file fails loudly at start-up, not in front of an admin;
the tests check the rendered documents with the DSL validator and the role with ``run_as``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from directory.roles import BUILTIN_BY_KEY
from workflows.templates_library.inputs import InputError, InputType, get_input_type

__all__ = [
    "CATEGORIES",
    "Template",
    "TemplateFileError",
    "TemplateInput",
    "TemplateInputsInvalid",
    "all_templates",
    "get_template",
]

LIBRARY_DIR = Path(__file__).resolve().parent / "files"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_]+))?\}")

# key -> label, in the order the gallery shows them.
CATEGORIES: dict[str, str] = {
    "user-lifecycle": "User lifecycle",
    "inactive": "Inactive accounts",
    "security": "Security & compliance",
}


class TemplateFileError(Exception):
    """A template file in the repository is malformed (a developer's mistake, raised at load)."""


class TemplateInputsInvalid(Exception):
    """Some inputs are missing or wrong: ``errors`` maps each input's name to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class TemplateInput:
    """One value the admin gives when using the template."""

    name: str
    kind: InputType
    label: str
    help: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Template:
    """A ready-made workflow: a document with placeholders, its inputs and what to show about it."""

    key: str
    name: str
    category: str
    description: str
    run_as: str
    workflow_name: str
    inputs: tuple[TemplateInput, ...]
    definition: dict[str, Any]

    @property
    def category_label(self) -> str:
        return CATEGORIES[self.category]

    @property
    def trigger_type(self) -> str:
        return self.definition["trigger"]["type"]

    @property
    def run_as_name(self) -> str:
        return BUILTIN_BY_KEY[self.run_as].name

    @property
    def trigger_summary(self) -> str:
        """What starts it, in one line, with the defaults (``Every day at 07:00 UTC``)."""
        from workflows.builder.summaries import trigger_summary

        return trigger_summary(self.preview()["trigger"])

    def input(self, name: str) -> TemplateInput:
        return next(i for i in self.inputs if i.name == name)

    def clean(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Every input's value from ``raw`` (defaults for those not given), or every error at once."""
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for item in self.inputs:
            given = raw.get(item.name)
            if given is None or (isinstance(given, str | list) and not given):
                if item.default is None:
                    errors[item.name] = ["This input is required."]
                    continue
                given = item.default
            try:
                values[item.name] = item.kind.clean(given)
            except InputError as exc:
                errors[item.name] = [str(exc)]
        unknown = sorted(set(raw) - {i.name for i in self.inputs})
        for name in unknown:
            errors[name] = [f"This template has no input {name!r}."]
        if errors:
            raise TemplateInputsInvalid(errors)
        return values

    def render(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The workflow document with every placeholder replaced by its cleaned value."""
        return _substitute(self.definition, lambda name, part: self._value(values, name, part))

    @property
    def preview_name(self) -> str:
        """The workflow name with «labels» where inputs go (the form's hint)."""
        return _substitute(self.workflow_name, lambda name, part: f"«{self.input(name).label}»")

    def render_name(self, values: Mapping[str, Any]) -> str:
        return _substitute(self.workflow_name, lambda name, part: self._value(values, name, part))

    def preview(self) -> dict[str, Any]:
        """The document as the gallery describes it: defaults where there are some, else «label»."""

        def shown(name: str, part: str | None) -> Any:
            item = self.input(name)
            if item.default is None:
                return f"«{item.label}»"
            value = item.kind.clean(item.default)
            return item.kind.part(value, part) if part else value

        return _substitute(self.definition, shown)

    def _value(self, values: Mapping[str, Any], name: str, part: str | None) -> Any:
        value = values[name]
        return self.input(name).kind.part(value, part) if part else value


def _substitute(node: Any, value_of: Any) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(item, value_of) for key, item in node.items()}
    if isinstance(node, list):
        return [_substitute(item, value_of) for item in node]
    if not isinstance(node, str):
        return node
    whole = PLACEHOLDER.fullmatch(node)
    if whole:
        return value_of(whole.group(1), whole.group(2))

    def text(match: re.Match[str]) -> str:
        value = value_of(match.group(1), match.group(2))
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    return PLACEHOLDER.sub(text, node)


def _placeholders(node: Any) -> Iterator[tuple[str, str | None]]:
    if isinstance(node, dict):
        for item in node.values():
            yield from _placeholders(item)
    elif isinstance(node, list):
        for item in node:
            yield from _placeholders(item)
    elif isinstance(node, str):
        for match in PLACEHOLDER.finditer(node):
            yield match.group(1), match.group(2)


def _load(path: Path) -> Template:
    where = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TemplateFileError(f"{where}: not valid JSON: {exc}") from exc
    missing = {"key", "name", "category", "description", "run_as", "workflow_name", "inputs", "definition"} - set(data)
    if missing:
        raise TemplateFileError(f"{where}: missing {', '.join(sorted(missing))}")
    if data["key"] != path.stem:
        raise TemplateFileError(f"{where}: key {data['key']!r} differs from the file name")
    if data["category"] not in CATEGORIES:
        raise TemplateFileError(f"{where}: unknown category {data['category']!r}")
    if data["run_as"] not in BUILTIN_BY_KEY:
        raise TemplateFileError(f"{where}: unknown built-in role {data['run_as']!r}")
    inputs = []
    for spec in data["inputs"]:
        kind = get_input_type(spec.get("type", ""))
        if kind is None:
            raise TemplateFileError(f"{where}: input {spec.get('name')!r} has unknown type {spec.get('type')!r}")
        inputs.append(TemplateInput(spec["name"], kind, spec["label"], spec.get("help", ""), spec.get("default")))
    declared = {i.name: i for i in inputs}
    used = set()
    for name, part in [*_placeholders(data["definition"]), *_placeholders(data["workflow_name"])]:
        if name not in declared:
            raise TemplateFileError(f"{where}: placeholder ${{{name}}} names no input")
        if part is not None and part not in declared[name].kind.parts:
            raise TemplateFileError(f"{where}: ${{{name}.{part}}}: a {declared[name].kind.label} has no {part}")
        used.add(name)
    if set(declared) - used:
        raise TemplateFileError(f"{where}: inputs never used: {', '.join(sorted(set(declared) - used))}")
    return Template(
        key=data["key"],
        name=data["name"],
        category=data["category"],
        description=data["description"],
        run_as=data["run_as"],
        workflow_name=data["workflow_name"],
        inputs=tuple(inputs),
        definition=data["definition"],
    )


@cache
def _library() -> dict[str, Template]:
    templates = [_load(path) for path in sorted(LIBRARY_DIR.glob("*.json"))]
    order = list(CATEGORIES)
    templates.sort(key=lambda t: (order.index(t.category), t.name))
    return {t.key: t for t in templates}


def all_templates() -> list[Template]:
    """Every template, by category (gallery order), then name."""
    return list(_library().values())


def get_template(key: str) -> Template | None:
    return _library().get(key)
