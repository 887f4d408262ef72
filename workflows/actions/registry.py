"""The registry of action types. Adding an action is adding one class with ``@register``."""

from __future__ import annotations

from workflows.actions.base import Action

_ACTIONS: dict[str, Action] = {}


def register(cls: type[Action]) -> type[Action]:
    """Class decorator: make the action type available under its key."""
    if cls.key in _ACTIONS:
        raise ValueError(f"Action {cls.key} is registered twice")
    _ACTIONS[cls.key] = cls()
    return cls


def get_action(key: str) -> Action | None:
    """The action type for ``key``, or None if there is none."""
    _load()
    return _ACTIONS.get(key)


def all_actions() -> list[Action]:
    """Every registered action type, by key."""
    _load()
    return [_ACTIONS[key] for key in sorted(_ACTIONS)]


def _load() -> None:
    # Importing the package imports every area module, which registers its actions.
    import workflows.actions  # noqa: F401
