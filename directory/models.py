"""The directory: the people, groups, devices, policies, commands, channels and connections
Keyflow manages.

These are directory records, not login accounts: admin accounts are Django's auth users and
belong to an ``AdminRole``. Every write goes through ``directory.services`` so that each
change is recorded as a ``DirectoryEvent`` in the same transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.models import User as AuthUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from directory.choices import (
    ActorType,
    AgentTokenKind,
    ChannelKind,
    CommandRunStatus,
    CommandShell,
    ConnectionAuthType,
    EmployeeType,
    OSFamily,
    PolicyType,
    UserState,
)
from directory.secrets import EncryptedTextField


class User(models.Model):
    """A person in the company directory, with the attributes workflows act on."""

    username = models.CharField(max_length=150, unique=True)
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    state = models.CharField(max_length=16, choices=UserState.choices, default=UserState.STAGED, db_index=True)
    department = models.CharField(max_length=150, blank=True, db_index=True)
    job_title = models.CharField(max_length=150, blank=True)
    employee_type = models.CharField(max_length=32, choices=EmployeeType.choices, default=EmployeeType.EMPLOYEE)
    location = models.CharField(max_length=150, blank=True)
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    employee_id = models.CharField(max_length=64, blank=True)
    hire_date = models.DateField(null=True, blank=True)
    termination_date = models.DateField(null=True, blank=True)
    mfa_enrolled = models.BooleanField(default=False)
    account_locked = models.BooleanField(default=False)
    password_expired = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Custom attributes (JSON object)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        permissions = [("change_user_state", "Can activate and suspend users")]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.username


class UserGroup(models.Model):
    """A named set of users; membership drives access and workflow conditions."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, blank=True, related_name="groups")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "user group"

    def __str__(self) -> str:
        return self.name


class Device(models.Model):
    """A managed computer or phone, with the compliance facts policies and workflows check."""

    hostname = models.CharField(max_length=255, unique=True)
    display_name = models.CharField(max_length=255, blank=True)
    os_family = models.CharField(max_length=16, choices=OSFamily.choices)
    os_version = models.CharField(max_length=64, blank=True)
    serial_number = models.CharField(max_length=128, blank=True)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices")
    last_contact_at = models.DateTimeField(null=True, blank=True)
    disk_encrypted = models.BooleanField(default=False)
    firewall_enabled = models.BooleanField(default=False)
    agent_version = models.CharField(max_length=32, blank=True)
    locked = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


class DeviceGroup(models.Model):
    """A named set of devices, the usual target of policies and commands."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(Device, blank=True, related_name="device_groups")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "device group"

    def __str__(self) -> str:
        return self.name


class Policy(models.Model):
    """A device configuration (encryption, firewall, …) bound to devices and device groups."""

    name = models.CharField(max_length=150, unique=True)
    type = models.CharField(max_length=32, choices=PolicyType.choices)
    description = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    devices = models.ManyToManyField(Device, blank=True, related_name="policies")
    device_groups = models.ManyToManyField(DeviceGroup, blank=True, related_name="policies")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        permissions = [("bind_policy", "Can bind and unbind policies")]

    def __str__(self) -> str:
        return self.name


class Command(models.Model):
    """A script an admin or a workflow can run on devices."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    shell = models.CharField(max_length=16, choices=CommandShell.choices, default=CommandShell.BASH)
    script = models.TextField()
    timeout_seconds = models.PositiveIntegerField(default=120)
    # ``lock:macos``, ``restart:linux``…: a built-in command (``directory.builtin_commands``) that
    # Keyflow created on first use; its script may be edited here like any other.
    builtin = models.CharField(max_length=32, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("run_command", "Can run commands on devices")]
        constraints = [
            models.UniqueConstraint(fields=["builtin"], condition=~Q(builtin=""), name="command_builtin_unique")
        ]

    def __str__(self) -> str:
        return self.name


class CommandRun(models.Model):
    """One run of a command on one device, as reported back by the device's agent."""

    command = models.ForeignKey(Command, on_delete=models.CASCADE, related_name="runs")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="command_runs")
    status = models.CharField(
        max_length=16, choices=CommandRunStatus.choices, default=CommandRunStatus.QUEUED, db_index=True
    )
    exit_code = models.IntegerField(null=True, blank=True)
    output = models.TextField(blank=True)
    requested_by = models.CharField(max_length=255, blank=True, help_text="Actor that requested the run")
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.command} on {self.device}"


class AgentToken(models.Model):
    """A device agent's credential, or the one-use enrolment token an admin hands out to obtain one.

    Only a SHA-256 hash of the token is stored (tokens are 256 random bits, so a fast hash is
    enough); the token itself is shown once, when it is made. An agent token is created by the
    agent's own enrolment, so no person ever sees it. Revoked tokens are kept for the record.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="agent_tokens")
    kind = models.CharField(max_length=16, choices=AgentTokenKind.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The token's first characters")
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When an enrolment token was exchanged")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "agent token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.get_kind_display()}, {self.device})"

    @staticmethod
    def hash(token: str) -> str:
        """What is stored of a token, and looked up by."""
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        if self.revoked_at is not None or self.used_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class NotificationChannel(models.Model):
    """Where notifications go: an email list or a chat/webhook endpoint.

    Webhook URLs and signing keys are credentials; they are encrypted at rest and write-only
    in every interface.
    """

    name = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    description = models.TextField(blank=True)
    recipients = models.JSONField(default=list, blank=True, help_text="Email addresses (email lists only)")
    webhook_url = EncryptedTextField(blank=True)
    signing_key = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_webhook_url(self) -> bool:
        return bool(self.webhook_url)

    @property
    def has_signing_key(self) -> bool:
        return bool(self.signing_key)


class Connection(models.Model):
    """An outside HTTP service workflows call: its base URL and the credentials to use.

    Kept apart from the actions that use it so that a workflow names a connection instead of
    carrying a token in its definition: definitions are exported, versioned and shown in the
    builder, and a credential must be rotatable in one place without editing every workflow.
    The secret (bearer token, password or API key) is encrypted at rest and write-only in every
    interface; only ``has_secret`` is ever shown.
    """

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    base_url = models.URLField(max_length=2000, help_text="http(s) URL that request paths are relative to")
    auth_type = models.CharField(max_length=16, choices=ConnectionAuthType.choices, default=ConnectionAuthType.NONE)
    username = models.CharField(max_length=255, blank=True, help_text="User name (basic authentication only)")
    secret = EncryptedTextField(blank=True, help_text="Token, password or API key")
    header_name = models.CharField(
        max_length=128, blank=True, default="X-API-Key", help_text="Header carrying the API key (API key only)"
    )
    verify_tls = models.BooleanField(default=True, help_text="Check the server's TLS certificate")
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(300)], help_text="1 to 300 seconds"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)


class AdminRole(models.Model):
    """An admin role: a Django auth group plus what Keyflow needs to know about it.

    Built-in roles mirror JumpCloud's and are kept in sync with ``directory.roles``; custom roles
    start from a built-in one. ``principal`` is the role's non-login service account that
    workflows running as this role act as, so their permission checks use exactly the role's
    model and object permissions.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="admin_role")
    key = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    is_builtin = models.BooleanField(default=False)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    principal = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="principal_of",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__name"]
        verbose_name = "admin role"
        permissions = [("manage_billing", "Can manage billing")]

    def __str__(self) -> str:
        return self.group.name

    @property
    def name(self) -> str:
        return self.group.name


class RoleMemberScope(models.Model):
    """A permission a custom role holds on the members of one user group only.

    Guardian grants a permission on one object; "may suspend the users of Sales" has to follow
    membership, so it is stored here and resolved when checked (``directory.scopes``): a user
    who joins or leaves the group is in or out of scope at once, with nothing to keep in sync.
    """

    role = models.ForeignKey(AdminRole, on_delete=models.CASCADE, related_name="member_scopes")
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="+")
    user_group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="role_scopes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "user_group__name", "permission__codename"]
        verbose_name = "role scope"
        constraints = [
            models.UniqueConstraint(fields=["role", "permission", "user_group"], name="role_member_scope_unique")
        ]

    def __str__(self) -> str:
        return f"{self.permission.codename} on users in {self.user_group.name}"


class AdminAccount(AuthUser):
    """A person who signs in to Keyflow's admin, as opposed to a directory ``User``.

    A proxy of Django's auth user, so the admin can list accounts under their own name. Who may
    manage them stays ``auth.*_user`` (the built-in role table's), hence no permissions of its own.
    """

    class Meta:
        proxy = True
        verbose_name = "admin account"
        default_permissions = ()


class DirectoryEvent(models.Model):
    """One change to the directory: the audit log and the outbox workflows are triggered from.

    Rows are written in the same transaction as the change, so a rolled-back change leaves no
    event. Resource fields are copied, not foreign keys, so the log outlives what it names.
    ``caused_by_execution_id`` and ``depth`` trace changes made by workflows, which is how a
    workflow that triggers itself is stopped.
    """

    type = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices, default=ActorType.SYSTEM)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    resource_type = models.CharField(max_length=32)  # indexed with the time: ``event_resource_type_idx``
    resource_id = models.CharField(max_length=64, db_index=True)
    resource_name = models.CharField(max_length=255, blank=True)
    related_type = models.CharField(max_length=32, blank=True)
    related_id = models.CharField(max_length=64, blank=True)  # shown, never looked up by
    related_name = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=list, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
    caused_by_execution_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    depth = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = "directory event"
        # Every index here is written for every change a workflow makes, so each earns its place:
        # the log by time (the listing's order), by type, by resource type (the admin's and the
        # API's filter, newest first) and id, and by causing execution.
        # The outbox index holds only events still to dispatch (``dispatch_pending``), so events
        # nothing listens to, written already dispatched, never enter it. (Searching names is
        # ``icontains``, which no index serves, so there is none for it.)
        indexes = [
            models.Index(
                fields=["id", "occurred_at"], condition=Q(dispatched_at__isnull=True), name="event_undispatched_idx"
            ),
            models.Index(fields=["resource_type", "occurred_at"], name="event_resource_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.resource_name or self.resource_id}"

    @property
    def actor(self) -> dict[str, Any]:
        return {"type": self.actor_type, "id": self.actor_id, "name": self.actor_name}
