"""Workflows and their immutable versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from workflows.choices import WorkflowType


class WorkflowQuerySet(models.QuerySet):
    """Workflows, with the ones deleted (archived) told apart."""

    def live(self) -> WorkflowQuerySet:
        """Workflows not deleted: what the overview, the builder, the API and triggers see."""
        return self.filter(archived_at__isnull=True)


class Workflow(models.Model):
    """An automation an admin built: a trigger, conditions and actions, run as a role.

    The definition lives in ``WorkflowVersion`` rows; ``current_version`` is the one new
    executions run. ``trigger_event`` copies the event type of an event workflow so dispatch
    finds matching workflows with one indexed query.
    """

    # Unique among workflows not archived (``workflow_name_unique``): a deleted workflow's name
    # may be used again while its history stays readable under it.
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=WorkflowType.choices)
    enabled = models.BooleanField(default=True, db_index=True)
    run_as = models.ForeignKey("directory.AdminRole", on_delete=models.PROTECT, related_name="workflows")
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger_event = models.CharField(max_length=64, blank=True, db_index=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the workflow is deleted: it is hidden and never runs again, but its versions,
    # executions and steps stay readable and exportable until it is purged.
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("run_workflow", "Can run workflows")]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(archived_at__isnull=True), name="workflow_name_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def definition(self) -> dict[str, Any]:
        return self.current_version.definition if self.current_version_id else {}


class WorkflowVersion(models.Model):
    """One saved definition of a workflow. Never changed once written; executions pin it."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"


class WorkflowDraft(models.Model):
    """An admin's unsaved edits of a workflow: a whole DSL document kept on the server.

    The builder changes the draft on every edit, so a reload or a second tab shows the same
    work, and nothing reaches the workflow until Save. ``base_version`` is the version the draft
    started from: saving is refused when another version was saved meanwhile. A draft of a new
    workflow has no ``workflow`` yet; it carries the name, description, run-as role and enabled
    flag that saving creates the workflow with.
    """

    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="drafts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflow_drafts")
    base_version = models.ForeignKey(
        WorkflowVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    definition = models.JSONField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    run_as = models.ForeignKey(
        "directory.AdminRole", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    # Set by a refused save: the builder then shows every problem live until the draft is saved.
    show_problems = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "owner"],
                condition=models.Q(workflow__isnull=False),
                name="workflow_draft_one_per_admin",
            )
        ]

    def __str__(self) -> str:
        return f"Draft of {self.name} by {self.owner}"
