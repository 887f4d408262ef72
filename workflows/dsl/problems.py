"""One problem found in a workflow document, where it is and what is wrong.

Its own module so that ``workflows.conditions`` can build problems without importing the
validator (which imports conditions).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A reason a workflow document cannot be saved.

    ``path`` is DSL-style (``do[2].each_device.do[0].lock.with.device``) so the builder can put
    the message next to the node and field it is about; ``""`` means the document itself.
    """

    path: str
    message: str
