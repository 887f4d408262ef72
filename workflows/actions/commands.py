"""Device commands: run a stored command, lock, restart or erase a device.

Each creates a CommandRun that the device's agent picks up (``/api/v1/agent/commands/``), so the
step itself only writes to the database (``DATABASE``): the device acts when its agent polls,
outside any of Keyflow's transactions. With ``wait: true`` the step returns ``Waiting`` and the
execution pauses, holding no worker, until the agent's result (``command.finished``) wakes it or
the timeout passes; ``resume`` then outputs the exit code and output, for a later step to branch on.
Lock, restart and erase are built-in commands, one script per OS family
(``directory.builtin_commands``), stored as Commands on first use.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from directory import selectors, services
from directory.choices import CommandRunStatus
from directory.models import Command, CommandRun, Device
from workflows.actions.base import ActionContext, ActionError, Waiting
from workflows.actions.params import CheckedAction, field, ref
from workflows.actions.registry import register
from workflows.actions.resolvers import resolve
from workflows.actions.users import validation_message

DEFAULT_WAIT_SECONDS = 600
MAX_WAIT_SECONDS = 7 * 24 * 3600

_WAIT_PARAMS: dict[str, Any] = {
    "wait": field(
        "boolean",
        "Wait for the result",
        "Pause the workflow until the device reports, then output its exit code and output (no worker is "
        "held while it waits). Off: the step ends once the command is queued.",
        default=False,
    ),
    "timeout": field(
        "integer",
        "Wait at most (seconds)",
        f"With wait: how long to wait for the device before the step fails (default {DEFAULT_WAIT_SECONDS}, "
        "at most 7 days). The command itself stays queued for the device.",
        minimum=1,
        maximum=MAX_WAIT_SECONDS,
        default=DEFAULT_WAIT_SECONDS,
    ),
}
_DEVICE_PARAM = ref("device", "Device", "The device: its id or hostname.")

_TIME = {"type": ["string", "null"], "description": "ISO date-time, or null"}
RUN_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command_run_id": {"type": "integer", "description": "The command run (see /api/v1/command-runs/)"},
        "command_id": {"type": "integer"},
        "command": {"type": "string", "description": "The command's name"},
        "device_id": {"type": "integer"},
        "device": {"type": "string", "description": "The device's hostname"},
        "status": {
            "type": "string",
            "enum": list(CommandRunStatus.values),
            "description": "queued without wait; with wait: succeeded (exit code 0), failed or timed_out",
        },
        "exit_code": {"type": ["integer", "null"], "description": "The command's exit code (null until it reports)"},
        "output": {"type": "string", "description": "What the command printed (stdout and stderr, capped at 64 KiB)"},
        "requested_at": _TIME,
        "started_at": _TIME,
        "finished_at": _TIME,
    },
}


def run_output(run: CommandRun) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "command_run_id": run.pk,
        "command_id": run.command_id,
        "command": run.command.name,
        "device_id": run.device_id,
        "device": run.device.hostname,
        "status": run.status,
        "exit_code": run.exit_code,
        "output": run.output,
        "requested_at": iso(run.requested_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }


class _CommandAction(CheckedAction):
    """Queue a command for a device's agent, and with ``wait`` pause until its result."""

    category = "Devices"
    output_schema = RUN_OUTPUT_SCHEMA

    def command_for(self, ctx: ActionContext, device: Device, params: dict[str, Any]) -> Command:
        """The command to run, once the run-as role is found allowed to run it on ``device``."""
        raise NotImplementedError

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | Waiting:
        device = resolve("device", params["device"])
        command = self.command_for(ctx, device, params)
        if not selectors.device_has_agent(device):
            raise ActionError(f"device {device.hostname} has no agent enrolled")
        try:
            run = services.command_run_request(command=command, device=device, actor=ctx.actor)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        if not params.get("wait", False):
            return run_output(run)
        timeout = params.get("timeout", DEFAULT_WAIT_SECONDS)
        until = timezone.now() + timedelta(seconds=timeout)
        state = {
            "command_run_id": run.pk,
            "command": command.name,
            "device": device.hostname,
            "timeout": timeout,
            "until": until.isoformat(),
        }
        return Waiting(until=until, state=state, command_run_id=run.pk)

    def resume(self, ctx: ActionContext, state: dict[str, Any]) -> dict[str, Any] | Waiting:
        run = CommandRun.objects.select_related("command", "device").filter(pk=state["command_run_id"]).first()
        if run is None:
            gone = f"the run of {state['command']} on device {state['device']} was deleted before it finished"
            raise ActionError(gone)
        if run.status in CommandRunStatus.finished():
            return run_output(run)
        until = parse_datetime(state["until"])
        if until is not None and timezone.now() < until:  # woken early: wait on
            return Waiting(until=until, state=state, command_run_id=run.pk)
        still = (
            "it stays queued until the device calls in"
            if run.status == CommandRunStatus.QUEUED
            else "the device started it but has not reported"
        )
        raise ActionError(f"device {state['device']} did not report within {state['timeout']} s ({still})")


@register
class DeviceRunCommand(_CommandAction):
    key = "device.run_command"
    label = "Run command on device"
    description = (
        "Run a stored command on a device through its agent. With wait, a later step can branch on "
        "steps.<name>.output.exit_code."
    )
    params_schema = {
        "type": "object",
        "required": ["device", "command"],
        "properties": {
            "device": _DEVICE_PARAM,
            "command": ref("command", "Command", "The stored command: its id or name."),
            **_WAIT_PARAMS,
        },
        "additionalProperties": False,
    }
    permissions = ("directory.run_command", "directory.view_device")

    def command_for(self, ctx: ActionContext, device: Device, params: dict[str, Any]) -> Command:
        command = resolve("command", params["command"])
        ctx.require("directory.view_device", device, verb="run commands on", noun="device")
        ctx.require("directory.run_command", command, verb="run", noun="command")
        return command


class _BuiltinCommandAction(_CommandAction):
    """Lock, restart, erase: the built-in command for the device's OS family."""

    params_schema = {
        "type": "object",
        "required": ["device"],
        "properties": {"device": _DEVICE_PARAM, **_WAIT_PARAMS},
        "additionalProperties": False,
    }
    permissions = ("directory.change_device", "directory.run_command")
    builtin = ""
    verb = ""

    def command_for(self, ctx: ActionContext, device: Device, params: dict[str, Any]) -> Command:
        ctx.require("directory.change_device", device, verb=self.verb, noun="device")
        try:
            command = services.command_builtin(key=self.builtin, os_family=device.os_family, actor=ctx.actor)
        except ValidationError as exc:
            raise ActionError(f"device {device.hostname}: {validation_message(exc).split(': ', 1)[-1]}") from exc
        ctx.require("directory.run_command", command, verb="run", noun="command")
        return command


@register
class DeviceLock(_BuiltinCommandAction):
    key = "device.lock"
    label = "Lock device"
    description = (
        "Lock a device's screen through its agent (Linux, macOS, Windows); the device is marked locked "
        "once it reports success."
    )
    builtin = "lock"
    verb = "lock"


@register
class DeviceRestart(_BuiltinCommandAction):
    key = "device.restart"
    label = "Restart device"
    description = "Restart a device through its agent, one minute after it reports (Linux, macOS, Windows)."
    builtin = "restart"
    verb = "restart"


@register
class DeviceErase(_BuiltinCommandAction):
    key = "device.erase"
    label = "Erase device"
    description = (
        "Erase a device for good through its agent: crypto-erase of the LUKS volumes on Linux, Windows' "
        "remote wipe on Windows. Not available for Macs (Apple allows it only through MDM)."
    )
    builtin = "erase"
    verb = "erase"
