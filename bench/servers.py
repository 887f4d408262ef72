"""Processes ``make bench-http`` starts and stops: gunicorn, the worker, a peer.

Each runs in a session of its own, so a Ctrl-C at the harness's terminal reaches only the
harness, which then stops them in order by pid (the worker supervisor wants one SIGTERM to stop
its cluster gracefully; a second signal would cut that short).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench import measure


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """One started command, its log file, and the process tree below it."""

    def __init__(self, name: str, argv: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("ab")
        self.popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._seen: set[int] = set()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """The live tree; remembered, so that stopping can reach children the root left behind."""
        found = measure.tree([self.pid])
        self._seen.update(found)
        return found

    def check(self) -> None:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; the end of {self.log}:\n{tail}")

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the root, then SIGKILL to whatever of its tree is left after ``grace``."""
        self.pids()
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        deadline = time.monotonic() + 5
        leftover = [pid for pid in self._seen if pid != self.pid and pid in measure.live_stats()]
        while leftover and time.monotonic() < deadline:
            time.sleep(0.2)
            leftover = [pid for pid in leftover if pid in measure.live_stats()]
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log_file.close()


def wait_http(url: str, *, process: Process, timeout: float = 120.0, headers: dict[str, str] | None = None) -> float:
    """Wait until a GET of ``url`` answers 2xx; seconds waited. Fails early if the process died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        process.check()
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=5) as resp:
                if 200 <= resp.status < 300:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{process.name}: {url} did not answer within {timeout:.0f} s (log: {process.log})")
