"""The builder's pages under ``/workflows/``.

A saved workflow is edited at ``<id>/…``, a new one (a draft until first saved) at
``drafts/<id>/…``; both serve the same views, which ``workflows.views.base.Editor`` tells apart.
"""

from __future__ import annotations

from django.urls import include, path

from workflows.views import (
    canvas,
    create,
    history,
    json_view,
    overview,
    panels,
    pickers,
    run,
    run_as,
    saving,
    templates,
)

app_name = "workflows"

editor_patterns = [
    path("", canvas.canvas, name="canvas"),
    path("json/", json_view.json_view, name="json"),
    path("history/", history.history, name="history"),
    path("picker/", canvas.picker, name="picker"),
    path("cards/insert/", canvas.insert, name="insert"),
    path("cards/move/", canvas.move, name="move"),
    path("cards/duplicate/", canvas.duplicate, name="duplicate"),
    path("cards/delete/", canvas.delete, name="delete"),
    path("cards/branch/", canvas.branch, name="branch"),
    path("cards/panel/", panels.panel, name="panel"),
    path("trigger/", panels.trigger, name="trigger"),
    path("run-as/", run_as.run_as, name="run-as"),
    path("details/", saving.details, name="details"),
    path("save/", saving.save, name="save"),
    path("discard/", saving.discard, name="discard"),
]

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("new/", create.create, name="create"),
    path("new/name/", create.name_check, name="create-name"),
    path("pick/<slug:kind>/", pickers.pick, name="pick"),
    path("templates/", templates.gallery, name="templates"),
    path("templates/<slug:key>/", templates.use, name="template-use"),
    path("<int:workflow_id>/enabled/", overview.set_enabled, name="enabled"),
    path("<int:workflow_id>/run/", run.run, name="run"),
    path("drafts/<int:draft_id>/enabled/", overview.set_draft_enabled, name="draft-enabled"),
    path("<int:workflow_id>/", include(editor_patterns)),
    path("drafts/<int:draft_id>/", include(editor_patterns)),
]
