"""What acts as an admin role (workflows, through their run-as), and what it would lack.

The directory does not know about workflows; the workflows app registers a provider here
(``register_role_dependents``) so that a role's admin page can list the workflows running as
the role and, before a change to the role is saved, warn which of them would fail and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from directory.models import AdminRole


@dataclass(frozen=True)
class Shortfall:
    """One action of a dependent that a role's permissions would not cover."""

    path: str
    action: str
    permission: str

    def __str__(self) -> str:
        return f"{self.path} ({self.action}) needs {self.permission}"


@dataclass(frozen=True)
class RoleDependent:
    """Something that runs as a role, where to see it, and what it would lack."""

    kind: str
    name: str
    url: str
    enabled: bool
    shortfalls: tuple[Shortfall, ...] = field(default_factory=tuple)


# ``provider(role, permissions)``: the role's dependents and their shortfalls with ``permissions``
# (``app_label.codename``, model and object-level), or with the role's current ones when None.
DependentsProvider = Callable[[AdminRole, "set[str] | None"], list[RoleDependent]]

_providers: list[DependentsProvider] = []


def register_role_dependents(provider: DependentsProvider) -> None:
    """Add a provider (once: registering the same one twice is a programming error)."""
    if provider in _providers:
        raise ValueError(f"{provider!r} is registered twice")
    _providers.append(provider)


def role_dependents(role: AdminRole, permissions: set[str] | None = None) -> list[RoleDependent]:
    """Everything that runs as ``role``, with what it would lack holding ``permissions``."""
    return [dependent for provider in _providers for dependent in provider(role, permissions)]
