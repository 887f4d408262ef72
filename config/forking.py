"""Share what a server process loaded with the processes it forks.

A forked child shares its parent's memory pages until one of them writes to a page. CPython
writes to an object whenever the cyclic garbage collector visits it, so after a few collections
in a child every page holding a module, class or function has been copied, and each process
ends up with its own Django. Importing what the children will run before forking, and freezing
it out of the collector's view (``gc.freeze``, as the ``gc`` documentation recommends for
pre-fork servers), keeps those pages shared: gunicorn's web processes share one copy, and the
worker's supervisor, ``qcluster`` and django-q2's sentinel, workers, monitor and pusher another.
"""

from __future__ import annotations

import gc
from importlib import import_module

from django.db import connections


def prepare_to_fork(*modules: str) -> None:
    """Import ``modules``, close the database connections and freeze what the process holds."""
    for name in modules:
        import_module(name)
    # A connection must not be shared by a parent and its children: each opens its own.
    connections.close_all()
    gc.collect()  # what is garbage already should not be frozen
    gc.freeze()
