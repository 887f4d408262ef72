"""Who may do what on the builder's pages (``workflows.access``): Administrator roles edit, Read Only
and Manager see read-only pages, Help Desk and roleless admins get 403, visitors the login page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import AdminRole
from executions.models import Execution
from workflows.builder.drafts import draft_create
from workflows.models import Workflow, WorkflowDraft

pytestmark = pytest.mark.django_db

EDITOR_POSTS = [
    "insert",
    "move",
    "duplicate",
    "delete",
    "branch",
    "panel",
    "trigger",
    "run-as",
    "details",
    "save",
    "discard",
    "json",
]


@pytest.fixture
def callers(administrator, billing_admin, manager_admin, help_desk_admin, read_only_admin, outsider):
    return {
        "administrator": administrator,
        "billing": billing_admin,
        "manager": manager_admin,
        "help_desk": help_desk_admin,
        "read_only": read_only_admin,
        "outsider": outsider,
    }


def post_urls(workflow, draft):
    urls = [reverse(f"workflows:{name}", kwargs={"workflow_id": workflow.pk}) for name in EDITOR_POSTS]
    urls += [reverse(f"workflows:{name}", kwargs={"draft_id": draft.pk}) for name in EDITOR_POSTS]
    return [
        *urls,
        reverse("workflows:create"),
        reverse("workflows:enabled", args=[workflow.pk]),
        reverse("workflows:run", args=[workflow.pk]),
        reverse("workflows:draft-enabled", args=[draft.pk]),
    ]


@pytest.mark.parametrize("who", ["manager", "help_desk", "read_only", "outsider"])
def test_only_administrator_roles_may_post_anything(client, callers, saved, who):
    draft = draft_create(trigger_type="manual", name="New one", description="", actor=callers["administrator"])
    client.force_login(callers[who])
    before = (Workflow.objects.count(), WorkflowDraft.objects.count(), Execution.objects.count())
    for url in post_urls(saved, draft):
        response = client.post(url, {"path": "do[0].suspend", "kind": "call", "action": "user.activate", "enabled": ""})
        assert response.status_code == 403, url
    saved.refresh_from_db()
    assert saved.enabled and saved.current_version.number == 1
    assert (Workflow.objects.count(), WorkflowDraft.objects.count(), Execution.objects.count()) == before


@pytest.mark.parametrize(
    ("who", "status", "edit_controls"),
    [
        ("administrator", 200, True),
        ("billing", 200, True),
        ("read_only", 200, False),
        ("manager", 200, False),
        ("help_desk", 403, None),
        ("outsider", 403, None),
    ],
)
def test_pages_by_role(client, callers, saved, who, status, edit_controls):
    client.force_login(callers[who])
    for url in (
        reverse("workflows:overview"),
        reverse("workflows:canvas", kwargs={"workflow_id": saved.pk}),
        reverse("workflows:json", kwargs={"workflow_id": saved.pk}),
        reverse("workflows:panel", kwargs={"workflow_id": saved.pk}) + "?path=do[0].suspend",
        reverse("workflows:trigger", kwargs={"workflow_id": saved.pk}),
    ):
        response = client.get(url)
        assert response.status_code == status, url
        if status == 403:
            assert "You don't have access to this page" in response.content.decode()
            continue
        html = response.content.decode()
        assert ("add-btn" in html or "hx-post" in html) is edit_controls, url
    if edit_controls is False:
        canvas = client.get(reverse("workflows:canvas", kwargs={"workflow_id": saved.pk})).content.decode()
        assert "Read only" in canvas and 'id="workflow-name"' not in canvas and "Save changes" not in canvas


@pytest.mark.parametrize("who", ["manager", "read_only"])
def test_viewers_cannot_open_dialogs_that_change_things(client, callers, saved, who):
    client.force_login(callers[who])
    for name in ("picker", "run-as"):
        assert client.get(reverse(f"workflows:{name}", kwargs={"workflow_id": saved.pk})).status_code == 403
    assert client.get(reverse("workflows:create")).status_code == 403
    assert client.get(reverse("workflows:run", args=[saved.pk])).status_code == 403
    assert client.get(reverse("workflows:pick", args=["user"])).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(client, saved):
    assert client.get("/").url == "/admin/login/?next=/workflows/"
    response = client.get(reverse("workflows:canvas", kwargs={"workflow_id": saved.pk}))
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert client.post(reverse("workflows:save", kwargs={"workflow_id": saved.pk})).status_code == 302


@pytest.mark.parametrize(("who", "outcome"), [("administrator", 302), ("read_only", 302), ("help_desk", 403)])
def test_front_door(client, callers, who, outcome):
    client.force_login(callers[who])
    response = client.get("/")
    assert response.status_code == outcome
    if outcome == 302:
        assert response.url == "/workflows/"


def test_another_admins_new_draft_is_not_found(client, administrator, billing_admin):
    draft = draft_create(trigger_type="manual", name="Mine", description="", actor=administrator)
    client.force_login(billing_admin)
    assert client.get(reverse("workflows:canvas", kwargs={"draft_id": draft.pk})).status_code == 404
    assert client.post(reverse("workflows:save", kwargs={"draft_id": draft.pk})).status_code == 404


def test_views_refuse_the_wrong_method(client, administrator, saved):
    client.force_login(administrator)
    kwargs = {"workflow_id": saved.pk}
    for name in ("insert", "move", "duplicate", "delete", "branch", "details", "save", "discard"):
        assert client.get(reverse(f"workflows:{name}", kwargs=kwargs)).status_code == 405, name
    for name in ("canvas", "picker"):
        assert client.post(reverse(f"workflows:{name}", kwargs=kwargs)).status_code == 405, name
    assert client.post(reverse("workflows:overview")).status_code == 405
    assert client.get(reverse("workflows:enabled", args=[saved.pk])).status_code == 405


def test_the_run_as_role_cannot_exceed_the_admins_own(client, administrator):
    draft = draft_create(trigger_type="manual", name="Sneaky", description="", actor=administrator)
    client.force_login(administrator)
    billing = AdminRole.objects.get(key="administrator-with-billing")
    html = client.post(
        reverse("workflows:run-as", kwargs={"draft_id": draft.pk}), {"role": billing.pk}
    ).content.decode()
    assert "holds permissions you do not" in html
