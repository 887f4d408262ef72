"""Choices for directory models."""

from django.db import models


class UserState(models.TextChoices):
    STAGED = "staged", "Staged"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class EmployeeType(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    CONTRACTOR = "contractor", "Contractor"
    INTERN = "intern", "Intern"
    VENDOR = "vendor", "Vendor"
    SERVICE = "service", "Service account"


class OSFamily(models.TextChoices):
    WINDOWS = "windows", "Windows"
    MACOS = "macos", "macOS"
    LINUX = "linux", "Linux"
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"


class PolicyType(models.TextChoices):
    DISK_ENCRYPTION = "disk_encryption", "Disk encryption"
    FIREWALL = "firewall", "Firewall"
    SCREEN_LOCK = "screen_lock", "Screen lock"
    PASSWORD = "password", "Password complexity"
    SOFTWARE_UPDATE = "software_update", "Software updates"
    USB_BLOCK = "usb_block", "Block USB storage"
    CUSTOM = "custom", "Custom"


class CommandShell(models.TextChoices):
    BASH = "bash", "Bash"
    POWERSHELL = "powershell", "PowerShell"
    ZSH = "zsh", "Zsh"
    SH = "sh", "sh"


class CommandRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"

    @classmethod
    def finished(cls) -> set[str]:
        return {cls.SUCCEEDED, cls.FAILED, cls.TIMED_OUT}


class AgentTokenKind(models.TextChoices):
    ENROLMENT = "enrolment", "Enrolment (one use)"
    AGENT = "agent", "Agent"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email list"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams webhook"
    WEBHOOK = "webhook", "Generic webhook"


class ConnectionAuthType(models.TextChoices):
    NONE = "none", "No authentication"
    BEARER = "bearer", "Bearer token"
    BASIC = "basic", "Basic (username and password)"
    API_KEY_HEADER = "api_key_header", "API key in a header"


class ActorType(models.TextChoices):
    ADMIN = "admin", "Admin account"
    API_TOKEN = "api_token", "API token"
    EXECUTION = "execution", "Workflow execution"
    AGENT = "agent", "Device agent"
    SYSTEM = "system", "System"


class ResourceType(models.TextChoices):
    USER = "user", "User"
    USER_GROUP = "user_group", "User group"
    DEVICE = "device", "Device"
    DEVICE_GROUP = "device_group", "Device group"
    POLICY = "policy", "Policy"
    COMMAND = "command", "Command"
    COMMAND_RUN = "command_run", "Command run"
    NOTIFICATION_CHANNEL = "notification_channel", "Notification channel"
    ADMIN_ROLE = "admin_role", "Admin role"
    ADMIN_ACCOUNT = "admin_account", "Admin account"
