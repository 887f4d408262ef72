"""Choices for workflows."""

from django.db import models


class WorkflowType(models.TextChoices):
    MANUAL = "manual", "Manual"
    EVENT = "event", "Directory event"
    SCHEDULE = "schedule", "Schedule"
