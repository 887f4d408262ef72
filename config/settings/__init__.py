"""Keyflow settings: a base plus one module per concern, combined here in order."""

from .base import *  # noqa: F403
from .database import *  # noqa: F403
from .drf import *  # noqa: F403
from .email import *  # noqa: F403
from .guardian import *  # noqa: F403
from .keyflow import *  # noqa: F403
from .logging import *  # noqa: F403
from .outbound import *  # noqa: F403
from .qcluster import *  # noqa: F403
from .security import *  # noqa: F403
