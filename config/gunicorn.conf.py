"""gunicorn settings for Keyflow: ``gunicorn -c config/gunicorn.conf.py``.

Any gunicorn setting can still be given on the command line or in ``GUNICORN_CMD_ARGS``.

On the embedded default (SQLite) every write waits for the database's one write lock, so a
second web process adds memory — its own copy of every page a request touches — and no
throughput: one process serves requests on ``WEB_THREADS`` threads (default 8). It loads
Keyflow itself, as it starts; preloading in the master would only keep a second copy there.

With PostgreSQL, give it processes (``--workers`` or ``WEB_CONCURRENCY``, as gunicorn reads
them). The application is then loaded once, in the master, with the URL configuration (which
imports every view) and frozen out of the garbage collector's view before the web processes are
forked, so they share one copy of it (``config.forking``); a code change needs a restart of
gunicorn, not only a HUP.
"""

import os

wsgi_app = "config.wsgi:application"


def embedded_database() -> bool:
    """True when Keyflow runs on SQLite: ``DATABASE_URL`` unset (the embedded default) or ``sqlite:``."""
    return os.environ.get("DATABASE_URL", "sqlite:").startswith("sqlite:")


if embedded_database():
    preload_app = False
    threads = int(os.environ.get("WEB_THREADS", "8"))
else:
    preload_app = True


def when_ready(server: object) -> None:
    """In the master, once it is ready and before the first web process is forked: with a
    preloaded application, load the views too and freeze it all, for the forks to share."""
    if not preload_app:
        return
    from django.conf import settings

    from config.forking import prepare_to_fork

    prepare_to_fork(settings.ROOT_URLCONF)


def post_worker_init(worker: object) -> None:
    """In a web process that loaded the application itself: the views too, before its first request."""
    if not preload_app:
        from importlib import import_module

        from django.conf import settings

        import_module(settings.ROOT_URLCONF)
