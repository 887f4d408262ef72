"""gunicorn settings for Keyflow: ``gunicorn -c config/gunicorn.conf.py``.

The application is loaded once, in gunicorn's master, with the URL configuration (which imports
every view) and frozen out of the garbage collector's view before the web processes are forked,
so they share one copy of it instead of each importing its own (``config.forking``). Any
gunicorn setting can still be given on the command line or in ``GUNICORN_CMD_ARGS``; the number
of web processes comes from ``--workers`` or ``WEB_CONCURRENCY``. With preloading, a code change
needs a restart of gunicorn, not only a HUP.
"""

wsgi_app = "config.wsgi:application"
preload_app = True


def when_ready(server: object) -> None:
    """In the master, after the application is loaded and before the first web process is forked."""
    from django.conf import settings

    from config.forking import prepare_to_fork

    prepare_to_fork(settings.ROOT_URLCONF)
