"""The page shell every HTML page builds on: the partial-or-page helper, the base layout, the 403 page."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.views.defaults import permission_denied
from django_htmx.middleware import HtmxDetails

from config.htmx import render_page, wants_partial

pytestmark = pytest.mark.django_db


def _request(user, **headers):
    request = RequestFactory().get("/somewhere/", headers=headers)
    request.user = user
    request.htmx = HtmxDetails(request)
    return request


@pytest.mark.parametrize(
    ("headers", "partial"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
    ],
)
def test_partial_only_for_plain_htmx_requests(administrator, headers, partial):
    request = _request(administrator, **headers)
    assert wants_partial(request) is partial
    response = render_page(request, "403.html", {"exception": "Nope."}, partial="message", status=403)
    response.render()
    html = response.content.decode()
    assert response.status_code == 403
    assert "Nope." in html
    # The whole page carries the shell; the partial is the message alone.
    assert ("<html" in html) is not partial
    assert ('class="topbar"' in html) is not partial


def test_base_layout_has_navigation_csrf_header_and_the_signed_in_admin(rf, administrator):
    request = rf.get("/workflows/")
    request.user = administrator
    html = render_to_string("base.html", request=request)
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    for link in ('href="/workflows/"', 'href="/executions/"', 'href="/admin/"'):
        assert link in html
    assert administrator.username in html
    assert "Administrator" in html  # the admin's role
    assert "vendor/htmx.min.js" in html
    # Under the CSP htmx injects no <style> and copies no style attribute; no template comment leaks.
    assert '"includeIndicatorStyles": false, "attributesToSettle": ["class", "width", "height"]' in html
    assert "{#" not in html and "endcomment" not in html
    assert 'action="/admin/logout/"' in html


def test_403_page_renders_in_the_shell_with_the_reason(rf, help_desk_admin):
    request = rf.get("/workflows/")
    request.user = help_desk_admin
    response = permission_denied(request, PermissionDenied("Your role does not include workflows."))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Your role does not include workflows." in html
    assert 'class="topbar"' in html
    assert "You don't have access to this page" in html


def test_status_badge_include_covers_every_status():
    for status in ("queued", "running", "waiting", "succeeded", "failed", "cancelled", "skipped"):
        html = render_to_string("includes/status_badge.html", {"status": status})
        assert f"badge--{status}" in html
        assert status.capitalize() in html
    assert "Never run" in render_to_string("includes/status_badge.html", {"status": ""})


def test_vendored_scripts_name_their_version():
    from django.conf import settings

    static = settings.BASE_DIR / "static" / "vendor"
    assert "htmx.org 2." in (static / "htmx.min.js").read_text()[:200]
    assert "Sortable.js 1." in (static / "Sortable.min.js").read_text()[:200]
