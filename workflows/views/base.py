"""What every builder view shares: who may see or edit, and the workflow or draft being edited.

The builder edits either a saved workflow (``/workflows/<id>/…``; the admin's draft of it, if
any, is what they see) or a new workflow that exists only as a draft (``/workflows/drafts/<id>/…``).
``Editor`` hides that difference from the views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from workflows.access import builder_mode, can_run_workflows
from workflows.builder.drafts import draft_for, draft_start
from workflows.models import Workflow, WorkflowDraft

View = Callable[..., HttpResponse]


def _gate(request: HttpRequest, need_edit: bool) -> str | HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    mode = builder_mode(request.user)
    if mode is None:
        raise PermissionDenied("Your admin role does not include workflows.")
    if need_edit and mode != "edit":
        raise PermissionDenied("Only Administrator roles may change workflows.")
    return mode


def viewer_required(view: View) -> View:
    """Pages anyone who may view workflows can open (Read Only and Manager see them read-only)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        mode = _gate(request, need_edit=False)
        if isinstance(mode, HttpResponse):
            return mode
        request.builder_mode = mode
        return view(request, *args, **kwargs)

    return wrapper


def editor_required(view: View) -> View:
    """Changes: Administrator roles only (``workflows.access``); everyone else gets a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        mode = _gate(request, need_edit=True)
        if isinstance(mode, HttpResponse):
            return mode
        request.builder_mode = mode
        return view(request, *args, **kwargs)

    return wrapper


@dataclass
class Editor:
    """The workflow (or new-workflow draft) a builder page shows, for the admin looking at it."""

    user: Any
    mode: str
    workflow: Workflow | None
    draft: WorkflowDraft | None

    @property
    def editable(self) -> bool:
        return self.mode == "edit"

    @property
    def can_run(self) -> bool:
        return self.workflow is not None and can_run_workflows(self.user)

    @property
    def is_new(self) -> bool:
        return self.workflow is None

    @property
    def document(self) -> dict[str, Any]:
        return self.draft.definition if self.draft is not None else self.workflow.definition

    @property
    def source(self) -> WorkflowDraft | Workflow:
        return self.draft if self.draft is not None else self.workflow

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def description(self) -> str:
        return self.source.description

    @property
    def run_as(self) -> Any:
        return self.source.run_as

    @property
    def enabled(self) -> bool:
        return self.workflow.enabled if self.workflow is not None else self.draft.enabled

    @property
    def trigger_type(self) -> str:
        trigger = self.document.get("trigger")
        return trigger.get("type", "") if isinstance(trigger, dict) else ""

    @property
    def url_kwargs(self) -> dict[str, int]:
        return {"workflow_id": self.workflow.pk} if self.workflow is not None else {"draft_id": self.draft.pk}

    def url(self, name: str) -> str:
        return reverse(f"workflows:{name}", kwargs=self.url_kwargs)

    def editing_draft(self) -> WorkflowDraft:
        """The draft edits go to, started from the saved workflow on the first edit."""
        if self.draft is None:
            self.draft = draft_start(workflow=self.workflow, actor=self.user)
        return self.draft


def load_editor(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> Editor:
    """The workflow or draft named by the URL; 404 for another admin's draft or a missing one."""
    mode = getattr(request, "builder_mode", None) or builder_mode(request.user)
    if workflow_id is not None:
        workflow = (
            Workflow.objects.live().select_related("run_as__group", "current_version").filter(pk=workflow_id).first()
        )
        if workflow is None:
            raise Http404("No such workflow.")
        draft = draft_for(workflow=workflow, owner=request.user) if mode == "edit" else None
        if draft is not None:
            draft.workflow = workflow
        return Editor(user=request.user, mode=mode, workflow=workflow, draft=draft)
    draft = (
        WorkflowDraft.objects.select_related("run_as__group")
        .filter(pk=draft_id, owner=request.user, workflow__isnull=True)
        .first()
    )
    if draft is None:
        raise Http404("No such draft: it was saved or discarded.")
    return Editor(user=request.user, mode=mode, workflow=None, draft=draft)
