"""The permission matrix of an admin role: resources × verbs, as the role's admin page shows it.

A cell is made of one permission (or a view permission and its companion, such as a
workflow's versions), and a role holds a cell when it holds all of them. Permissions that no
cell names (billing, auth groups) are listed apart and never changed by editing the matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VERBS: tuple[tuple[str, str], ...] = (
    ("view", "View"),
    ("add", "Add"),
    ("change", "Change"),
    ("delete", "Delete"),
    ("change_state", "Change state"),
    ("run", "Run"),
    ("bind", "Bind"),
)
VERB_LABELS = dict(VERBS)


@dataclass(frozen=True)
class Cell:
    """One verb on one resource: the permissions it grants, and what it means when not obvious."""

    codes: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Resource:
    """A row of the matrix."""

    key: str
    label: str
    cells: dict[str, Cell] = field(default_factory=dict)


def _crud(app: str, model: str, *verbs: str) -> dict[str, Cell]:
    return {verb: Cell((f"{app}.{verb}_{model}",)) for verb in verbs or ("view", "add", "change", "delete")}


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "users",
        "Users",
        {
            **_crud("directory", "user"),
            "change_state": Cell(("directory.change_user_state",), "activate and suspend"),
        },
    ),
    Resource("user_groups", "User groups", _crud("directory", "usergroup")),
    Resource("devices", "Devices", _crud("directory", "device")),
    Resource("device_groups", "Device groups", _crud("directory", "devicegroup")),
    Resource(
        "policies",
        "Policies",
        {**_crud("directory", "policy"), "bind": Cell(("directory.bind_policy",), "bind to devices and groups")},
    ),
    Resource(
        "commands",
        "Commands",
        {**_crud("directory", "command"), "run": Cell(("directory.run_command",), "run on devices")},
    ),
    Resource("command_runs", "Command runs", _crud("directory", "commandrun", "view")),
    Resource("notification_channels", "Notification channels", _crud("directory", "notificationchannel")),
    Resource("connections", "Connections", _crud("directory", "connection")),
    Resource(
        "workflows",
        "Workflows",
        {
            "view": Cell(("workflows.view_workflow", "workflows.view_workflowversion"), "and their versions"),
            **_crud("workflows", "workflow", "add", "change", "delete"),
            "run": Cell(("workflows.run_workflow",)),
        },
    ),
    Resource(
        "executions",
        "Executions",
        {
            "view": Cell(("executions.view_execution",)),
            "change_state": Cell(("executions.cancel_execution",), "cancel"),
        },
    ),
    Resource("event_log", "Event log", _crud("directory", "directoryevent", "view")),
    Resource("admin_roles", "Admin roles", _crud("directory", "adminrole")),
    Resource("admin_accounts", "Admin accounts", _crud("auth", "user")),
)

CELLS: dict[str, Cell] = {
    f"{resource.key}.{verb}": cell for resource in RESOURCES for verb, cell in resource.cells.items()
}
MATRIX_CODES: frozenset[str] = frozenset(code for cell in CELLS.values() for code in cell.codes)


def held_cells(codes: Iterable[str]) -> set[str]:
    """The ids (``users.change_state``) of the cells whose every permission is in ``codes``."""
    have = set(codes)
    return {cell_id for cell_id, cell in CELLS.items() if set(cell.codes) <= have}


def apply_cells(codes: Iterable[str], *, before: Iterable[str], after: Iterable[str]) -> set[str]:
    """``codes`` with the cells ticked between ``before`` and ``after`` granted and the cells
    unticked revoked; cells left as they were (even half-held ones) are left alone."""
    result, before, after = set(codes), set(before), set(after)
    for cell_id in after - before:
        result |= set(CELLS[cell_id].codes)
    for cell_id in before - after:
        result -= set(CELLS[cell_id].codes)
    return result


def other_codes(codes: Iterable[str]) -> list[str]:
    """Permissions the matrix does not show (kept as they are when the matrix is edited)."""
    return sorted(set(codes) - MATRIX_CODES)


def cell_label(cell_id: str) -> str:
    """``Users: change state (activate and suspend)`` — for labels, events and warnings."""
    resource_key, verb = cell_id.split(".", 1)
    resource = next(r for r in RESOURCES if r.key == resource_key)
    note = resource.cells[verb].note
    return f"{resource.label}: {VERB_LABELS[verb].lower()}" + (f" ({note})" if note else "")


def matrix_rows(codes: Iterable[str], *, prefix: str = "") -> list[dict[str, Any]]:
    """The matrix as rows of cells for a template: each cell ``None`` (not applicable) or a dict
    with its id, whether the role holds it fully or partly, and its accessible label."""
    have = set(codes)
    rows = []
    for resource in RESOURCES:
        cells: list[dict[str, Any] | None] = []
        for verb, verb_label in VERBS:
            cell = resource.cells.get(verb)
            if cell is None:
                cells.append(None)
                continue
            held = [code in have for code in cell.codes]
            cell_id = f"{resource.key}.{verb}"
            cells.append(
                {
                    "id": cell_id,
                    "html_id": f"{prefix}{cell_id.replace('.', '-')}",
                    "held": all(held),
                    "partial": any(held) and not all(held),
                    "label": f"{resource.label}: {verb_label.lower()}",
                    "note": cell.note,
                    "codes": cell.codes,
                }
            )
        rows.append({"key": resource.key, "label": resource.label, "cells": cells})
    return rows


def summarize(codes: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``[(resource label, [verbs held])]`` for the resources the role touches at all."""
    have = held_cells(codes)
    summary = []
    for resource in RESOURCES:
        verbs = [VERB_LABELS[verb].lower() for verb, _ in VERBS if f"{resource.key}.{verb}" in have]
        if verbs:
            summary.append((resource.label, verbs))
    return summary
