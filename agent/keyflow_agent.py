#!/usr/bin/env python3
"""Keyflow's reference device agent: enrol once, then poll for commands, run them, report back.

Standard library only (Python 3.9+), so it runs on a stock Linux or macOS machine:

    python3 keyflow_agent.py enrol --server https://keyflow.example.com --token kfe_…
    python3 keyflow_agent.py run              # poll every 30 s until stopped
    python3 keyflow_agent.py run --once       # one poll: run what is due, report, exit

``enrol`` exchanges the one-use enrolment token an admin created for this device for the agent's
own token and writes it, with the server URL, to the config file (mode 0600). ``run`` fetches the
device's due commands from ``/api/v1/agent/commands/``, runs each in its shell with the command's
timeout, and posts the exit code and output (stdout and stderr together, capped) to
``/api/v1/agent/commands/<id>/result/``. A command that overruns its timeout is killed with its
process group and reported as ``timed_out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

__version__ = "1.0.0"

OUTPUT_LIMIT = 64 * 1024  # characters of output reported per command
HTTP_TIMEOUT = 30
TRUNCATED = "\n[output truncated by the agent]"

# Shell name (as a Command stores it) -> how to run a script with it (the first program found).
_POWERSHELL_ARGS = ["-NoProfile", "-NonInteractive", "-Command"]
SHELLS = {
    "bash": [["bash", "-c"]],
    "sh": [["sh", "-c"]],
    "zsh": [["zsh", "-c"]],
    "powershell": [["pwsh", *_POWERSHELL_ARGS], ["powershell", *_POWERSHELL_ARGS]],
}


class AgentError(Exception):
    """Something the person running the agent must fix (bad token, unreachable server, bad config)."""


def default_config_path() -> str:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/etc/keyflow/agent.json"
    return os.path.join(os.path.expanduser("~"), ".config", "keyflow", "agent.json")


def load_config(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        hint = "enrol first (keyflow_agent.py enrol --server URL --token TOKEN)"
        raise AgentError(f"no config at {path}: {hint}") from None
    except (OSError, ValueError) as exc:
        raise AgentError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict) or not config.get("server") or not config.get("token"):
        raise AgentError(f"{path} lacks 'server' or 'token': enrol again")
    return config


def save_config(path: str, config: dict[str, str]) -> None:
    """Write atomically, readable by the owner only: the file holds the agent's credential."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".agent-", suffix=".json")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def call(server: str, method: str, path: str, token: str, body: Any = None, ca_file: str | None = None) -> Any:
    """One API call with ``Authorization: Agent <token>``; returns the decoded JSON body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.rstrip("/") + path, data=data, method=method)
    request.add_header("Authorization", f"Agent {token}")
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", f"keyflow-agent/{__version__}")
    request.add_header("X-Keyflow-Agent-Version", __version__)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    context = None
    if ca_file:
        import ssl

        context = ssl.create_default_context(cafile=ca_file)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT, context=context) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("detail", detail)
        raise AgentError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AgentError(f"{method} {path}: cannot reach {server}: {exc}") from None
    return json.loads(payload) if payload else None


def os_version() -> str:
    if sys.platform == "darwin":
        return platform.mac_ver()[0]
    if sys.platform.startswith("linux"):
        try:
            with open("/etc/os-release", encoding="utf-8") as handle:
                fields = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
            return fields.get("VERSION_ID", "").strip('"') or platform.release()
        except OSError:
            return platform.release()
    return platform.version()


def enrol(server: str, token: str, config_path: str, ca_file: str | None = None) -> dict[str, Any]:
    reply = call(
        server,
        "POST",
        "/api/v1/agent/enrol/",
        token,
        {"agent_version": __version__, "os_version": os_version()},
        ca_file,
    )
    config = {"server": server.rstrip("/"), "token": reply["token"]}
    if ca_file:
        config["ca_file"] = ca_file
    save_config(config_path, config)
    return reply


def cap(output: str) -> str:
    if len(output) <= OUTPUT_LIMIT:
        return output
    return output[: OUTPUT_LIMIT - len(TRUNCATED)] + TRUNCATED


def run_script(shell: str, script: str, timeout: float) -> dict[str, Any]:
    """Run one script; returns the result to report (exit code, output, and status if it overran)."""
    argv = next((argv for argv in SHELLS.get(shell, []) if shutil.which(argv[0])), None)
    if argv is None:
        return {
            "exit_code": None,
            "status": "failed",
            "output": f"keyflow-agent: shell {shell!r} is not available here",
        }
    process = subprocess.Popen(
        [*argv, script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills its children too
    )
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:  # Windows: no process groups to signal
                process.kill()
        raw, _ = process.communicate()
        output = raw.decode(errors="replace") + f"\nkeyflow-agent: stopped after the {timeout:g} s timeout"
        return {"exit_code": None, "status": "timed_out", "output": cap(output)}
    return {"exit_code": process.returncode, "output": cap(raw.decode(errors="replace"))}


def poll_once(config: dict[str, str], log: Any = print) -> int:
    """Fetch the due commands, run each, report each; returns how many ran."""
    server, token, ca_file = config["server"], config["token"], config.get("ca_file")
    commands = call(server, "GET", "/api/v1/agent/commands/", token, ca_file=ca_file) or []
    for command in commands:
        log(f"running {command['command']!r} (run {command['id']}, timeout {command['timeout_seconds']} s)")
        result = run_script(command["shell"], command["script"], float(command["timeout_seconds"]))
        call(server, "POST", f"/api/v1/agent/commands/{command['id']}/result/", token, result, ca_file)
        log(f"reported run {command['id']}: exit code {result['exit_code']}")
    return len(commands)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keyflow device agent")
    parser.add_argument("--config", default=default_config_path(), help="config file (default: %(default)s)")
    sub = parser.add_subparsers(dest="action", required=True)
    enrol_parser = sub.add_parser("enrol", help="enrol this device with a one-use enrolment token")
    enrol_parser.add_argument("--server", required=True, help="Keyflow's URL, e.g. https://keyflow.example.com")
    enrol_parser.add_argument("--token", default=os.environ.get("KEYFLOW_ENROLMENT_TOKEN"), help="enrolment token")
    enrol_parser.add_argument("--ca-file", help="CA bundle to verify the server with (a private CA)")
    run_parser = sub.add_parser("run", help="poll for commands and run them")
    run_parser.add_argument("--once", action="store_true", help="poll once, run what is due, then exit")
    run_parser.add_argument("--interval", type=float, default=30.0, help="seconds between polls (default 30)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"keyflow-agent: {message}", flush=True)

    try:
        if args.action == "enrol":
            if not args.token:
                raise AgentError("give the enrolment token with --token or KEYFLOW_ENROLMENT_TOKEN")
            reply = enrol(args.server, args.token, args.config, args.ca_file)
            log(f"enrolled as device {reply['device']['hostname']}; config written to {args.config}")
            return 0
        config = load_config(args.config)
        if args.once:
            poll_once(config, log)
            return 0
        log(f"polling {config['server']} every {args.interval:g} s")
        while True:
            try:
                poll_once(config, log)
            except AgentError as exc:  # a passing outage must not stop the agent
                log(f"error: {exc}")
            time.sleep(args.interval)
    except AgentError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
