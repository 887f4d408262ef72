"""Who is making a change, carried alongside the code that makes it.

Services take ``actor=`` explicitly; signal receivers cannot, so the service (or the admin
middleware) sets the current actor in a context variable for the duration of the change and
the receivers read it. A change made with no actor set is recorded as the system.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from directory.choices import ActorType


@dataclass(frozen=True)
class Actor:
    """The author of a directory change, as recorded on its events."""

    type: str
    id: str = ""
    name: str = ""
    execution_id: int | None = None
    depth: int = 0

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(type=ActorType.SYSTEM, name=name)

    @classmethod
    def for_admin(cls, user: Any, *, via_token: bool = False) -> Actor:
        return cls(
            type=ActorType.API_TOKEN if via_token else ActorType.ADMIN,
            id=str(user.pk),
            name=user.get_username(),
        )

    @classmethod
    def for_agent(cls, device: Any) -> Actor:
        """A device's agent reporting back (a command's result): recorded under the device's name."""
        return cls(type=ActorType.AGENT, id=str(device.pk), name=device.hostname)

    @classmethod
    def for_execution(cls, *, execution_id: int, workflow_name: str, depth: int) -> Actor:
        """An execution acting on the directory; ``depth`` is that of the event that caused it + 1."""
        return cls(
            type=ActorType.EXECUTION,
            id=str(execution_id),
            name=workflow_name,
            execution_id=execution_id,
            depth=depth,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "name": self.name}


ActorLike = Actor | Any | None

_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("keyflow_actor", default=None)


def resolve_actor(actor: ActorLike) -> Actor:
    """Accept an Actor, a Django admin account, or None (the system)."""
    if actor is None:
        return _current.get() or Actor.system()
    if isinstance(actor, Actor):
        return actor
    if hasattr(actor, "get_username"):
        return Actor.for_admin(actor)
    raise TypeError(f"Cannot use {actor!r} as an actor")


def current_actor() -> Actor:
    """The actor of the change in progress, or the system."""
    return _current.get() or Actor.system()


@contextmanager
def acting_as(actor: ActorLike) -> Iterator[Actor]:
    """Make ``actor`` the author of every directory change inside the block."""
    resolved = resolve_actor(actor)
    token = _current.set(resolved)
    try:
        yield resolved
    finally:
        _current.reset(token)
