"""The reference agent (agent/keyflow_agent.py) against a live test server: enrol, fetch a command,
run it in a real shell, report — and the workflow that waited for it goes on, branching on the
exit code."""

from __future__ import annotations

import importlib.util
import json
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from directory import services as ds
from directory.models import AdminRole, CommandRun, DirectoryEvent
from executions.models import Execution
from executions.tasks import run_execution
from workflows.services import workflow_create, workflow_run

AGENT = Path(__file__).resolve().parents[2] / "agent" / "keyflow_agent.py"


def agent(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the agent as an operator would, in a process of its own."""
    return subprocess.run(
        [sys.executable, str(AGENT), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def enrolment_token(server: str, admin: Any, device_pk: int) -> str:
    """What an admin does over the API: create the device's one-use enrolment token."""
    request = urllib.request.Request(
        f"{server}/api/v1/devices/{device_pk}/agent-token/",
        method="POST",
        headers={"Authorization": f"Token {Token.objects.create(user=admin).key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


BRANCH_ON_EXIT_CODE = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [
        {
            "say_hi": {
                "call": "device.run_command",
                "with": {"device": "lin-042", "command": "Say hi", "wait": True, "timeout": 300},
            }
        },
        {
            "check": {
                "switch": [
                    {
                        "exit_3": {
                            "when": "{{ steps.say_hi.output.exit_code == 3 }}",
                            "do": [{"flag": {"call": "user.lock", "with": {"user": "ann"}}}],
                        }
                    },
                    {"default": {"do": [{"other": {"call": "user.expire_password", "with": {"user": "ann"}}}]}},
                ]
            }
        },
    ],
}


@pytest.mark.django_db(transaction=True)
def test_agent_enrols_runs_a_command_and_wakes_the_waiting_workflow(live_server, administrator, settings, tmp_path):
    settings.KEYFLOW_DISPATCH_INLINE = True  # the result's commit wakes the execution at once
    device = ds.device_create(actor=administrator, hostname="lin-042", os_family="linux")
    ds.command_create(actor=administrator, name="Say hi", shell="sh", script="echo hi; exit 3", timeout_seconds=30)
    ann = ds.user_create(actor=administrator, username="ann", email="ann@example.com")
    config = tmp_path / "keyflow" / "agent.json"

    token = enrolment_token(live_server.url, administrator, device.pk)
    enrolled = agent("--config", config, "enrol", "--server", live_server.url, "--token", token)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert "enrolled as device lin-042" in enrolled.stdout
    saved = json.loads(config.read_text())
    assert saved["server"] == live_server.url and saved["token"].startswith("kfa_")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    workflow = workflow_create(
        name="Say hi and branch",
        definition=BRANCH_ON_EXIT_CODE,
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"

    polled = agent("--config", config, "run", "--once")
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "reported run" in polled.stdout and "exit code 3" in polled.stdout

    run = CommandRun.objects.get()
    assert (run.status, run.exit_code, run.output) == ("failed", 3, "hi\n")
    finished = DirectoryEvent.objects.get(type="command.finished")
    assert (finished.actor_type, finished.actor_name) == ("agent", "lin-042")
    device.refresh_from_db()
    assert device.agent_version == "1.0.0" and device.last_contact_at is not None

    execution.refresh_from_db()
    assert execution.status == "queued"  # woken by the result, holding no worker until now
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution = Execution.objects.get(pk=execution.pk)
    say_hi = execution.steps.get(name="say_hi")
    assert (say_hi.status, say_hi.output["exit_code"], say_hi.output["output"]) == ("succeeded", 3, "hi\n")
    assert execution.steps.get(name="flag").status == "succeeded"
    assert execution.steps.get(name="other").status == "skipped"
    ann.refresh_from_db()
    assert ann.account_locked is True and ann.password_expired is False

    nothing = agent("--config", config, "run", "--once")  # nothing left to do
    assert nothing.returncode == 0 and "running" not in nothing.stdout


@pytest.mark.django_db(transaction=True)
def test_agent_stops_a_command_at_its_timeout_and_is_refused_once_revoked(live_server, administrator, tmp_path):
    device = ds.device_create(actor=administrator, hostname="lin-042", os_family="linux")
    slow = ds.command_create(
        actor=administrator, name="Slow", shell="sh", script="echo start; sleep 30", timeout_seconds=1
    )
    config = tmp_path / "agent.json"
    token = enrolment_token(live_server.url, administrator, device.pk)
    assert agent("--config", config, "enrol", "--server", live_server.url, "--token", token).returncode == 0
    reused = agent("--config", tmp_path / "other.json", "enrol", "--server", live_server.url, "--token", token)
    assert reused.returncode == 1 and "already used" in reused.stdout

    ds.command_run_request(command=slow, device=device, actor=administrator)
    assert agent("--config", config, "run", "--once").returncode == 0
    run = CommandRun.objects.get()
    assert (run.status, run.exit_code) == ("timed_out", None)
    assert run.output.startswith("start\n") and "stopped after the 1 s timeout" in run.output

    ds.agent_tokens_revoke(device=device, actor=administrator)
    refused = agent("--config", config, "run", "--once")
    assert refused.returncode == 1 and "HTTP 401: This agent token was revoked." in refused.stdout


def test_agent_caps_output_and_reports_a_missing_shell():
    spec = importlib.util.spec_from_file_location("keyflow_agent", AGENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chatty = module.run_script("sh", "yes | head -c 200000", timeout=30)
    assert chatty["exit_code"] == 0 and len(chatty["output"]) == module.OUTPUT_LIMIT
    assert chatty["output"].endswith("[output truncated by the agent]")
    missing = module.run_script("fish", "echo hi", timeout=5)
    assert missing == {
        "exit_code": None,
        "status": "failed",
        "output": "keyflow-agent: shell 'fish' is not available here",
    }
