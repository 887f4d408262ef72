"""Browser tests: Debian's Chromium driven by Playwright's sync API against ``live_server``.

Why things are set up the way they are:

* Playwright's own browser download does not work on the machines this runs on, so the
  browser is always the system Chromium at ``tests.services.CHROMIUM`` (``/usr/bin/chromium``,
  or ``KEYFLOW_CHROMIUM``); ``require_chromium()`` skips without it, or fails when CI sets
  ``KEYFLOW_REQUIRE_SERVICES=1``.
* Playwright's sync API keeps an asyncio event loop running in the test thread, and Django
  refuses ORM calls from a thread with a running loop (``SynchronousOnlyOperation``). The test
  thread only ever runs synchronous ORM code between browser steps, so that guard is switched
  off with ``DJANGO_ALLOW_ASYNC_UNSAFE`` — from the moment Playwright starts until it stops,
  not at import: pytest imports this file for ``make test`` too (``-m "not e2e"`` deselects
  after collection), and the rest of the suite must keep Django's check.
* ``live_server`` makes every test using it transactional: the database is flushed after each
  test. Flushing re-sends ``post_migrate``, which re-creates the built-in admin roles
  (``directory.apps._sync_roles``), so tests can rely on them; ``builtin_roles`` checks this
  explicitly so a future change that breaks it fails with a clear message.
* pytest-django's ``live_server`` serves static files through ``StaticFilesHandler`` whenever
  ``django.contrib.staticfiles`` is installed, so the admin's CSS loads although DEBUG is off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.services import CHROMIUM, require_chromium

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's default of 30 s hides a hung page for a long time; the admin answers in well
# under a second on the embedded default.
DEFAULT_TIMEOUT_MS = 10_000

PASSWORD = "pw-Keyflow-123"  # the default password of tests.conftest.make_admin


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory ``e2e`` so ``make test`` (``-m "not e2e"``) leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item so the ``page`` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def results_dir(config: pytest.Config) -> Path:
    """``test-results/`` at the project root (git-ignored), created on first use."""
    path = config.rootpath / "test-results"
    path.mkdir(exist_ok=True)
    return path


def screenshot_path(request: pytest.FixtureRequest, suffix: str = "") -> Path:
    """A file name for this test's screenshot that is safe whatever the parametrize ids contain."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name) + suffix
    return results_dir(request.config) / f"{name}.png"


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright, with Django's async-safety check off for exactly as long as its loop runs."""
    require_chromium()
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """One Chromium for the whole session: starting it costs far more than a new context."""
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, live_server: object, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context (no cookies from other tests); screenshot saved on failure."""
    context = browser.new_context(base_url=str(live_server), viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                page.screenshot(path=str(screenshot_path(request)), full_page=True)
            except Exception as exc:  # the browser may be what failed; keep the original error
                print(f"could not save a failure screenshot: {exc}")
        context.close()


@pytest.fixture
def builtin_roles(transactional_db: None) -> None:
    """Fail clearly if the built-in roles did not survive the previous test's flush."""
    from directory.models import AdminRole
    from directory.roles import BUILTIN_ROLES

    present = set(AdminRole.objects.filter(is_builtin=True).values_list("key", flat=True))
    missing = {role.key for role in BUILTIN_ROLES} - present
    assert not missing, (
        f"built-in roles missing after a transactional flush: {sorted(missing)}; "
        "use serialized_rollback or call directory.role_services.roles_sync_builtin()"
    )


@pytest.fixture
def admin_login() -> Callable[..., None]:
    """Sign in through the admin's login form, as a person would, and check it worked."""

    def login(page: Page, username: str, password: str = PASSWORD) -> None:
        page.goto("/admin/login/?next=/admin/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/admin/$"))
        expect(page.locator("#user-tools")).to_contain_text(username, ignore_case=True)

    return login


@pytest.fixture
def administrator_page(
    page: Page, make_admin: Callable[..., AbstractUser], admin_login: Callable[..., None]
) -> Iterator[Page]:
    """Signed in as an Administrator on the overview; no Content-Security-Policy violation allowed."""
    from directory.roles import ADMINISTRATOR
    from tests.e2e.builder_steps import open_builder

    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    admin = make_admin("admin-ada", ADMINISTRATOR)
    admin_login(page, admin.username)
    open_builder(page)
    yield page
    assert violations == []
