"""Demo data: a believable small company, created through the services.

``seed_demo`` (the management command) calls ``seed``. The plan is drawn from
``random.Random(42)`` in a fixed order and only then compared with what exists, so every run
plans the same company and a second run creates nothing (and writes no events). Every directory
write goes through ``directory.services`` as ``Actor.system("seed_demo")``, so the demo starts
with a real event log; users are created with ``users_import`` because it is the fast path.
Dates are relative to today so that "stale" devices and "future" hires stay what they claim.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from directory import role_services, selectors, services
from directory.actors import Actor
from directory.models import (
    AdminRole,
    Command,
    CommandRun,
    Connection,
    Device,
    DeviceGroup,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)
from directory.roles import (
    ADMINISTRATOR,
    ADMINISTRATOR_WITH_BILLING,
    COMMAND_RUNNER,
    COMMAND_RUNNER_USER_MANAGEMENT,
    HELP_DESK,
    MANAGER,
    READ_ONLY,
)

SEED = 42
DOMAIN = "example.com"
ACTOR = Actor.system("seed_demo")
# The group whose presence means "the demo has been loaded" (``seed_demo --once``).
MARKER_GROUP = "All Staff"
CURRENT_AGENT = "2.6.1"
OLD_AGENT = "2.3.4"

# (department, cost-centre prefix, headcount, titles: the first is the head's)
DEPARTMENTS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    (
        "Engineering",
        "ENG",
        14,
        (
            "VP Engineering",
            "Engineering Manager",
            "Staff Engineer",
            "Senior Software Engineer",
            "Software Engineer",
            "Site Reliability Engineer",
            "QA Engineer",
        ),
    ),
    (
        "Sales",
        "SAL",
        11,
        ("VP Sales", "Account Executive", "Sales Development Representative", "Sales Engineer", "Sales Operations"),
    ),
    ("Marketing", "MKT", 9, ("Head of Marketing", "Product Marketing Manager", "Content Strategist", "Designer")),
    ("Finance", "FIN", 7, ("CFO", "Controller", "Accountant", "FP&A Analyst")),
    ("Support", "SUP", 11, ("Head of Support", "Support Engineer", "Support Specialist", "IT Administrator")),
    ("People", "PPL", 8, ("Head of People", "HR Business Partner", "Recruiter", "People Operations Specialist")),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ada Alan Amara Ana Arjun Aziz Beatriz Bo Carmen Chen Chloe Dario Dmitri Elena Emeka Farah Felix Grace "
    "Hana Hugo Ines Isaac Jamal Jonas Kai Keiko Lars Leila Lucia Malik Maya Mateo Mei Nadia Nia Noah Olga Omar "
    "Priya Quentin Rafael Rania Rosa Sam Sana Sofia Stefan Tariq Tomas Uma Valentina Victor Wei Yara Yusuf "
    "Zara Zoe Ivan Kofi Linnea"
)
LAST_NAMES = _words(
    "Abbott Adeyemi Alvarez Andersen Bauer Becker Bianchi Brooks Campbell Chowdhury Costa Dubois Eriksen Fischer "
    "Fujita Garcia Gupta Haddad Hansen Hoffmann Ibrahim Ivanova Jensen Kato Khan Kim Kowalski Larsen Lindqvist "
    "Lopez Martin Mensah Moreau Murphy Nakamura Nguyen Novak Okafor Olsen Park Patel Petrov Quinn Rossi Santos "
    "Schmidt Silva Singh Sorensen Tanaka Torres Virtanen Wagner Walsh Weber Yamamoto Young Zhang Ziegler Osei"
)
LOCATIONS = ("New York", "New York", "San Francisco", "London", "London", "Berlin", "Remote", "Remote")
SHIRTS = ("S", "M", "M", "L", "L", "XL")


@dataclass
class SeedReport:
    """What a run created, and the admin accounts to print."""

    created: dict[str, int] = field(default_factory=dict)
    admins: list[tuple[str, str, str, bool]] = field(default_factory=list)  # username, role, password, new

    def count(self, kind: str, n: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + n

    @property
    def total(self) -> int:
        return sum(self.created.values())


# ``seeder(report)``: demo content of apps the directory does not know about (the workflows app adds
# workflows made from templates), run at the end of ``seed`` in its transaction.
DemoSeeder = Callable[[SeedReport], None]
_seeders: list[DemoSeeder] = []


def register_demo_seeder(seeder: DemoSeeder) -> None:
    """Add a seeder (once: registering the same one twice is a programming error)."""
    if seeder in _seeders:
        raise ValueError(f"{seeder!r} is registered twice")
    _seeders.append(seeder)


def demo_present() -> bool:
    """Whether demo data has been loaded (the marker group exists)."""
    return UserGroup.objects.filter(name=MARKER_GROUP).exists()


# --- the plan --------------------------------------------------------------------------------


def _user_rows(rng: random.Random, today: dt.date, now: dt.datetime) -> list[dict[str, Any]]:
    """Sixty people: heads first in each department, then their reports (``manager`` is the
    head's username here and resolved to an id when imported)."""
    firsts, lasts = list(FIRST_NAMES), list(LAST_NAMES)
    rng.shuffle(firsts)
    rng.shuffle(lasts)
    rows: list[dict[str, Any]] = []
    for department, prefix, headcount, titles in DEPARTMENTS:
        head = None
        for position in range(headcount):
            first, last = firsts[len(rows)], lasts[len(rows)]
            username = f"{first}.{last}".lower()
            row: dict[str, Any] = {
                "username": username,
                "email": f"{username}@{DOMAIN}",
                "first_name": first,
                "last_name": last,
                "state": "active",
                "department": department,
                "job_title": titles[0] if position == 0 else rng.choice(titles[1:]),
                "employee_type": "employee",
                "location": rng.choice(LOCATIONS),
                "manager": head,
                "employee_id": f"E{1001 + len(rows)}",
                "hire_date": today - dt.timedelta(days=rng.randint(120, 3000) if position else rng.randint(2000, 3600)),
                "mfa_enrolled": True,
                "last_login_at": now - dt.timedelta(minutes=rng.randint(5, 60 * 72)),
                "attributes": {
                    "cost_center": f"{prefix}-{100 + 10 * rng.randint(0, 3)}",
                    "shirt_size": rng.choice(SHIRTS),
                },
            }
            if department == "Engineering":
                row["attributes"]["github"] = username.replace(".", "-")
            head = head or username
            rows.append(row)
    _vary(rng, rows, today)
    _cases_for_templates(rows, today, now)
    return rows


def _vary(rng: random.Random, rows: list[dict[str, Any]], today: dt.date) -> None:
    """Pick, among non-heads, who is staged, suspended, a contractor or intern, or has an
    account problem; fixed counts so the demo always shows each case."""
    heads = {row["manager"] for row in rows}
    reports = [row for row in rows if row["username"] not in heads]
    picked = rng.sample(reports, 5 + 4 + 6 + 3)
    staged, suspended, contractors, interns = picked[:5], picked[5:9], picked[9:15], picked[15:]
    for row in staged:  # hired, not started yet
        row.update(state="staged", mfa_enrolled=False, last_login_at=None)
        row["hire_date"] = today + dt.timedelta(days=rng.randint(5, 30))
    for row in suspended:  # left the company
        row.update(state="suspended")
        row["termination_date"] = today - dt.timedelta(days=rng.randint(3, 60))
    for row in contractors:
        row.update(employee_type="contractor", employee_id=row["employee_id"].replace("E", "C"))
        row["attributes"].update(agency="Northwind Staffing", contract_end=str(today + dt.timedelta(days=180)))
    for row in interns:
        row.update(employee_type="intern", job_title=f"{row['department']} Intern")
        row["attributes"]["mentor"] = row["manager"]
    active = [row for row in reports if row["state"] == "active"]
    for row in rng.sample(active, 6):
        row["mfa_enrolled"] = False
    for row in rng.sample(active, 2):
        row["account_locked"] = True
    for row in rng.sample(active, 3):
        row["password_expired"] = True


def _cases_for_templates(rows: list[dict[str, Any]], today: dt.date, now: dt.datetime) -> None:
    """What the workflow templates look for, so each has something to do on the demo: contracts
    ending soon, a leaver whose last day passed but who is still active, dormant accounts.

    Drawn from a generator of its own, so the rest of the plan stays what it always was."""
    rng = random.Random(SEED + 1)
    heads = {row["manager"] for row in rows}
    contractors = [row for row in rows if row["employee_type"] == "contractor"]
    for index, row in enumerate(contractors):
        ends = today + dt.timedelta(days=(6, 11)[index] if index < 2 else rng.randint(60, 240))
        row["termination_date"] = ends
        row["attributes"]["contract_end"] = str(ends)
    plain = [
        row
        for row in rows
        if row["state"] == "active" and row["employee_type"] == "employee" and row["username"] not in heads
    ]
    leaver, *dormant = rng.sample(plain, 4)
    leaver["termination_date"] = today - dt.timedelta(days=1)
    for row in dormant:
        row["last_login_at"] = now - dt.timedelta(days=rng.randint(100, 200))


_OS_BY_DEPARTMENT = {
    "Engineering": ("macos", "macos", "linux", "linux", "windows"),
    "Support": ("windows", "windows", "macos", "linux"),
}
_OS_VERSIONS = {
    "windows": ("11 23H2", "11 24H2", "10 22H2"),
    "macos": ("14.7", "15.1", "15.2"),
    "linux": ("Ubuntu 24.04", "Ubuntu 22.04", "Fedora 41"),
}
_SUFFIX = {"windows": "win", "macos": "mbp", "linux": "linux"}
_MODEL = {"windows": "ThinkPad T14", "macos": "MacBook Pro 14", "linux": "Dell XPS 13"}


def _device_rows(rng: random.Random, users: Sequence[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """A laptop for most people (suspended ones still hold theirs), plus lab machines."""
    eligible = [u for u in users if u["state"] != "staged" and u["employee_type"] != "intern"]
    chosen = {u["username"] for u in rng.sample(eligible, min(36, len(eligible)))}
    owners = [u for u in eligible if u["username"] in chosen]
    rows: list[dict[str, Any]] = []
    for user in owners:
        os_family = rng.choice(_OS_BY_DEPARTMENT.get(user["department"], ("windows", "windows", "macos")))
        rows.append(
            {
                "hostname": f"{user['username'].replace('.', '-')}-{_SUFFIX[os_family]}",
                "display_name": f"{user['first_name']}'s {_MODEL[os_family]}",
                "os_family": os_family,
                "owner": user["username"],
            }
        )
    for n in range(1, 5):
        rows.append({"hostname": f"lab-build-{n:02d}", "display_name": f"Build agent {n}", "os_family": "linux"})
    for index, row in enumerate(rows):
        os_family = row["os_family"]
        row.update(
            os_version=rng.choice(_OS_VERSIONS[os_family]),
            serial_number=_serial(rng, os_family),
            last_contact_at=now - dt.timedelta(minutes=rng.randint(1, 60 * 48)),
            disk_encrypted=True,
            firewall_enabled=True,
            agent_version=CURRENT_AGENT,
            attributes={"asset_tag": f"KF-{1000 + index}", "model": _MODEL[os_family]},
        )
    for row in rng.sample(rows, 5):
        row["disk_encrypted"] = False
    for row in rng.sample(rows, 4):
        row["firewall_enabled"] = False
    for row in rng.sample(rows, 4):
        row["last_contact_at"] = now - dt.timedelta(days=rng.randint(35, 120))
    for row in rng.sample(rows, 3):
        row["agent_version"] = OLD_AGENT
    return rows


def _serial(rng: random.Random, os_family: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    body = "".join(rng.choice(alphabet) for _ in range(9))
    return {"macos": "C02", "windows": "PF", "linux": "SVR"}[os_family] + body


CROSS_GROUPS = {
    "All Staff": "Everyone who works here (not suspended).",
    "Contractors": "Contractors: time-limited access.",
    "VPN Users": "People allowed on the corporate VPN.",
    "MFA Required": "People who must enrol a second factor (filled by the MFA enforcement workflow).",
}
# name -> which devices belong: an OS family, "lab" (the lab machines) or None (filled by workflows).
DEVICE_GROUPS = {
    "Windows Devices": "windows",
    "macOS Devices": "macos",
    "Linux Devices": "linux",
    "Lab": "lab",
    "Quarantine": None,
    "Needs remediation": None,
}
DEVICE_GROUP_DESCRIPTIONS = {
    "Lab": "Build and test machines.",
    "Quarantine": "Devices silent for weeks (the quarantine workflow adds them).",
    "Needs remediation": "Devices out of compliance (the compliance workflows add them).",
}
POLICIES = (
    (
        "Require disk encryption",
        "disk_encryption",
        "FileVault, BitLocker or LUKS with the recovery key escrowed.",
        {"enforce": True, "escrow_recovery_key": True},
        ("Windows Devices", "macOS Devices", "Linux Devices"),
    ),
    (
        "Firewall on",
        "firewall",
        "Host firewall enabled, stealth mode on.",
        {"enabled": True, "stealth_mode": True, "block_all_incoming": False},
        ("Windows Devices", "macOS Devices"),
    ),
    (
        "Screen lock after 5 minutes",
        "screen_lock",
        "Lock the screen after 5 idle minutes and require the password.",
        {"idle_minutes": 5, "require_password": True},
        ("Windows Devices", "macOS Devices", "Linux Devices"),
    ),
    (
        "Block USB storage in the lab",
        "usb_block",
        "Lab machines never mount removable storage.",
        {"allow_read": False},
        ("Lab",),
    ),
)
COMMANDS = (
    ("Restart agent", "bash", "sudo systemctl restart keyflow-agent", 60, "Restart the Keyflow agent (Linux)."),
    (
        "Restart agent (Windows)",
        "powershell",
        "Restart-Service -Name KeyflowAgent",
        60,
        "Restart the Keyflow agent service.",
    ),
    (
        "Collect logs",
        "bash",
        "journalctl --since '-1h' --no-pager | tail -n 2000",
        120,
        "Last hour of the system journal.",
    ),
    ("Lock screen", "zsh", "pmset displaysleepnow", 30, "Sleep the display so the screen locks (macOS)."),
    (
        "Enable BitLocker",
        "powershell",
        "Enable-BitLocker -MountPoint 'C:' -EncryptionMethod XtsAes256 -RecoveryPasswordProtector",
        600,
        "Turn on BitLocker for the system drive with a recovery password (Windows).",
    ),
    (
        "Enable Windows Firewall",
        "powershell",
        "Set-NetFirewallProfile -Profile Domain,Public,Private -Enabled True",
        60,
        "Turn the host firewall on for every network profile (Windows).",
    ),
)
# (command, device hostname or OS to pick the first of, exit code, output)
COMMAND_RUNS = (
    ("Restart agent", "lab-build-01", 0, "keyflow-agent.service restarted\n"),
    ("Collect logs", "lab-build-02", 0, "-- Journal begins --\nsshd[812]: Accepted publickey for deploy\n"),
    ("Lock screen", "macos", 1, "pmset: display sleep is not permitted while a presentation is running\n"),
)
CHANNELS = (
    ("IT email list", "email", "Everyone in IT.", {"recipients": [f"it@{DOMAIN}", f"helpdesk@{DOMAIN}"]}),
    (
        "IT Slack (#it-alerts)",
        "slack",
        "Slack incoming webhook for #it-alerts (demo URL, not a real workspace).",
        {"webhook_url": "https://hooks.slack.com/services/T0KEYFLOW/B0DEMO0000/DemoWebhookTokenNotReal42"},
    ),
    (
        "IT Teams channel",
        "teams",
        "Microsoft Teams incoming webhook (demo URL).",
        {
            "webhook_url": (
                "https://example.webhook.office.com/webhookb2/0d3f5c8e-demo-4d2b-9c1a-keyflow/IncomingWebhook/"
                "5e0a7c2b9d4f4e1a8b3c6d7e8f901234/7a9b3c1d-demo-4e5f-8a6b-keyflow"
            )
        },
    ),
)
# (name, description, fields): outside services for HTTP actions; the secrets are demo values.
CONNECTIONS = (
    (
        "HR system",
        "The HR system's REST API (demo token, not a real service).",
        {
            "base_url": f"https://hr.{DOMAIN}/api/v1",
            "auth_type": "bearer",
            "secret": "demo-hr-token-not-real",
        },
    ),
    (
        "Service desk",
        "Ticketing API keyed by header (demo key).",
        {
            "base_url": f"https://servicedesk.{DOMAIN}/api",
            "auth_type": "api_key_header",
            "header_name": "X-API-Key",
            "secret": "demo-servicedesk-key-not-real",
            "timeout_seconds": 15,
        },
    ),
)
# (username, role key, password, superuser): one shared, printed demo password (see README).
DEMO_PASSWORD = "keyflow-demo"
ADMIN_ACCOUNTS = (
    ("admin", ADMINISTRATOR_WITH_BILLING, DEMO_PASSWORD, True),
    ("administrator", ADMINISTRATOR, DEMO_PASSWORD, False),
    ("manager", MANAGER, DEMO_PASSWORD, False),
    ("helpdesk", HELP_DESK, DEMO_PASSWORD, False),
    ("readonly", READ_ONLY, DEMO_PASSWORD, False),
    ("commandrunner", COMMAND_RUNNER, DEMO_PASSWORD, False),
    ("commandrunner-um", COMMAND_RUNNER_USER_MANAGEMENT, DEMO_PASSWORD, False),
)


# --- applying the plan -----------------------------------------------------------------------


@transaction.atomic
def seed(*, today: dt.date | None = None, extras: bool = True) -> SeedReport:
    """Create whatever part of the demo company is missing; return what was created.

    ``extras``: also run the other apps' seeders (``register_demo_seeder``)."""
    rng = random.Random(SEED)
    now = timezone.now()
    today = today or timezone.localdate()
    report = SeedReport()
    user_rows = _user_rows(rng, today, now)
    device_rows = _device_rows(rng, user_rows, now)

    users = _seed_users(user_rows, report)
    _seed_user_groups(user_rows, users, report)
    devices = _seed_devices(device_rows, users, report)
    _seed_agents(devices, report)
    device_groups = _seed_device_groups(devices, report)
    _seed_policies(device_groups, report)
    _seed_commands(devices, report)
    _seed_channels(report)
    _seed_connections(report)
    _seed_admins(report)
    for seeder in _seeders if extras else ():
        seeder(report)
    return report


def _seed_users(rows: list[dict[str, Any]], report: SeedReport) -> dict[str, User]:
    existing = {u.username: u for u in User.objects.filter(username__in=[r["username"] for r in rows])}
    # Heads first, so that their reports can name them as manager by id.
    for wave in ([r for r in rows if r["manager"] is None], [r for r in rows if r["manager"] is not None]):
        missing = [dict(row) for row in wave if row["username"] not in existing]
        for row in missing:
            if row["manager"] is not None:
                row["manager"] = existing[row["manager"]].pk
        if missing:
            created = services.users_import(rows=missing, actor=ACTOR)
            existing.update({u.username: u for u in created})
            report.count("users", len(created))
    return existing


def _seed_user_groups(rows: list[dict[str, Any]], users: dict[str, User], report: SeedReport) -> None:
    wanted: dict[str, tuple[str, list[str]]] = {}
    for department, *_ in DEPARTMENTS:
        members = [r["username"] for r in rows if r["department"] == department]
        wanted[department] = (f"Everyone in {department}.", members)
    wanted["All Staff"] = (CROSS_GROUPS["All Staff"], [r["username"] for r in rows if r["state"] != "suspended"])
    wanted["Contractors"] = (
        CROSS_GROUPS["Contractors"],
        [r["username"] for r in rows if r["employee_type"] == "contractor"],
    )
    wanted["VPN Users"] = (
        CROSS_GROUPS["VPN Users"],
        [
            r["username"]
            for r in rows
            if r["state"] == "active" and (r["department"] in ("Engineering", "Support") or r["location"] == "Remote")
        ],
    )
    wanted["MFA Required"] = (CROSS_GROUPS["MFA Required"], [])
    # The marker group last, so that an interrupted run is not mistaken for a finished one.
    for name in [n for n in wanted if n != MARKER_GROUP] + [MARKER_GROUP]:
        description, members = wanted[name]
        group = UserGroup.objects.filter(name=name).first()
        if group is None:
            group = services.group_create(actor=ACTOR, name=name, description=description)
            report.count("user groups")
        for username in members:
            if services.group_add_member(group=group, user=users[username], actor=ACTOR):
                report.count("group memberships")


def _seed_devices(rows: list[dict[str, Any]], users: dict[str, User], report: SeedReport) -> dict[str, Device]:
    existing = {d.hostname: d for d in Device.objects.filter(hostname__in=[r["hostname"] for r in rows])}
    for row in rows:
        if row["hostname"] in existing:
            continue
        fields = dict(row)
        fields["owner"] = users[fields["owner"]] if fields.get("owner") else None
        existing[row["hostname"]] = services.device_create(actor=ACTOR, **fields)
        report.count("devices")
    return existing


def _seed_agents(devices: dict[str, Device], report: SeedReport) -> None:
    """Enrol an agent on every managed device, as each device's installer would, so that device
    commands (lock, erase, remediation scripts) queue for them. The agents' tokens are not kept:
    these are demo machines, no real agent calls in."""
    for device in devices.values():
        if device.active and not selectors.device_has_agent(device):
            enrolment, _token = services.agent_enrolment_token_create(device=device, actor=ACTOR)
            services.agent_enrol(enrolment=enrolment)
            report.count("enrolled agents")


def _seed_device_groups(devices: dict[str, Device], report: SeedReport) -> dict[str, DeviceGroup]:
    groups: dict[str, DeviceGroup] = {}
    for name, os_family in DEVICE_GROUPS.items():
        group = DeviceGroup.objects.filter(name=name).first()
        if group is None:
            description = DEVICE_GROUP_DESCRIPTIONS.get(name, f"Every {name.split()[0]} device.")
            group = services.device_group_create(actor=ACTOR, name=name, description=description)
            report.count("device groups")
        groups[name] = group
        for device in devices.values():
            if os_family is None:
                break
            belongs = device.hostname.startswith("lab-") if os_family == "lab" else device.os_family == os_family
            if belongs and services.device_group_add_member(device_group=group, device=device, actor=ACTOR):
                report.count("device group memberships")
    return groups


def _seed_policies(device_groups: dict[str, DeviceGroup], report: SeedReport) -> None:
    for name, policy_type, description, settings, targets in POLICIES:
        policy = Policy.objects.filter(name=name).first()
        if policy is None:
            policy = services.policy_create(
                actor=ACTOR, name=name, type=policy_type, description=description, settings=settings
            )
            report.count("policies")
        for target in targets:
            if services.policy_bind(policy=policy, device_group=device_groups[target], actor=ACTOR):
                report.count("policy bindings")


def _seed_commands(devices: dict[str, Device], report: SeedReport) -> None:
    commands: dict[str, Command] = {}
    for name, shell, script, timeout, description in COMMANDS:
        command = Command.objects.filter(name=name).first()
        if command is None:
            command = services.command_create(
                actor=ACTOR, name=name, shell=shell, script=script, timeout_seconds=timeout, description=description
            )
            report.count("commands")
        commands[name] = command
    if CommandRun.objects.filter(command__in=commands.values()).exists():
        return
    for command_name, target, exit_code, output in COMMAND_RUNS:
        device = devices.get(target) or next(
            d for d in sorted(devices.values(), key=lambda d: d.hostname) if d.os_family == target and d.active
        )
        run = services.command_run_request(command=commands[command_name], device=device, actor=ACTOR)
        services.command_run_finish(run=run, actor=ACTOR, exit_code=exit_code, output=output)
        report.count("command runs")


def _seed_channels(report: SeedReport) -> None:
    for name, kind, description, fields in CHANNELS:
        if not NotificationChannel.objects.filter(name=name).exists():
            services.channel_create(actor=ACTOR, name=name, kind=kind, description=description, **fields)
            report.count("notification channels")


def _seed_connections(report: SeedReport) -> None:
    for name, description, fields in CONNECTIONS:
        if not Connection.objects.filter(name=name).exists():
            services.connection_create(actor=ACTOR, name=name, description=description, **fields)
            report.count("connections")


def _seed_admins(report: SeedReport) -> None:
    """One admin account per built-in role. A password is set only when the account is created:
    re-running the command never resets a password someone has changed."""
    Account = get_user_model()
    roles = {role.key: role for role in AdminRole.objects.select_related("group").filter(is_builtin=True)}
    for username, role_key, password, superuser in ADMIN_ACCOUNTS:
        role = roles[role_key]
        account = Account.objects.filter(username=username).first()
        new = account is None
        if new:
            account = Account(username=username, email=f"{username}@{DOMAIN}", is_staff=True, is_superuser=superuser)
            account.set_password(password)
            account.save()
            role_services.admin_set_role(admin=account, role=role, actor=ACTOR)
            report.count("admin accounts")
        label = f"{role.name} (superuser)" if account.is_superuser else role.name
        report.admins.append((username, label, password if new else "(unchanged)", new))
