"""The built-in device commands (lock, restart, erase), one script per OS family.

A CommandRun needs a stored Command, so each built-in command becomes a ``Command`` row the first
time it is used (``services.command_builtin``), marked with ``builtin = "<key>:<os family>"``. From
then on it is an ordinary command: an admin may adapt its script to the fleet in the admin, and
that edit is kept; a deleted one is created again from here on its next use. An OS family a
command has no script for is refused by name: the reference agent runs shell scripts on Linux,
macOS and Windows, and some things (a remote erase of a Mac) only an MDM may do.

``on_success`` names device fields the command's success makes true, set when the agent reports
exit code 0 (a lock is recorded on the device only once the device says it is locked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from directory.choices import CommandShell, OSFamily


@dataclass(frozen=True)
class BuiltinCommand:
    """A command Keyflow ships: its label, and the shell and script for each OS family it supports."""

    key: str
    label: str
    description: str
    scripts: Mapping[str, tuple[str, str]]
    timeout_seconds: int = 120
    on_success: Mapping[str, Any] = field(default_factory=dict)
    # Why an OS family has no script, when there is a reason worth telling the admin.
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def name_for(self, os_family: str) -> str:
        return f"Keyflow: {self.label} ({OSFamily(os_family).label})"


_LINUX_LOCK = "loginctl lock-sessions"
# Sleeps the display; with the screen-lock policy (password required at once) that locks the Mac.
_MACOS_LOCK = "pmset displaysleepnow"
_WINDOWS_LOCK = "tsdiscon.exe console"

_UNIX_RESTART = 'shutdown -r +1 "Restart requested by Keyflow"'
_WINDOWS_RESTART = 'shutdown.exe /r /t 60 /c "Restart requested by Keyflow"'

# Crypto-erase: destroying every LUKS key slot makes the encrypted data unreadable for good, then
# the machine reboots. An unencrypted disk is refused rather than half-wiped.
_LINUX_ERASE = """set -eu
found=0
for dev in $(lsblk -rpno NAME,FSTYPE | awk '$2 == "crypto_LUKS" {print $1}'); do
    cryptsetup luksErase --batch-mode "$dev"
    found=1
done
if [ "$found" -eq 0 ]; then
    echo "no LUKS-encrypted volume found; refusing to erase an unencrypted disk" >&2
    exit 2
fi
echo "LUKS key slots erased; rebooting"
(sleep 5; echo b > /proc/sysrq-trigger) >/dev/null 2>&1 &
"""
# Windows' own remote wipe (the MDM RemoteWipe CSP), reachable from a SYSTEM shell.
_WINDOWS_ERASE = """$ErrorActionPreference = "Stop"
$wipe = Get-CimInstance -Namespace "root\\cimv2\\mdm\\dmmap" -ClassName "MDM_RemoteWipe" `
    -Filter "ParentID='./Vendor/MSFT' and InstanceID='RemoteWipe'"
Invoke-CimMethod -InputObject $wipe -MethodName "doWipeMethod" -Arguments @{param = ""} | Out-Null
Write-Output "Windows reset started"
"""

_MOBILE = "the Keyflow agent does not run on phones and tablets"

BUILTIN_COMMANDS: dict[str, BuiltinCommand] = {
    command.key: command
    for command in (
        BuiltinCommand(
            key="lock",
            label="Lock device",
            description="Locks the screen; the owner's password unlocks it.",
            scripts={
                OSFamily.LINUX: (CommandShell.SH, _LINUX_LOCK),
                OSFamily.MACOS: (CommandShell.ZSH, _MACOS_LOCK),
                OSFamily.WINDOWS: (CommandShell.POWERSHELL, _WINDOWS_LOCK),
            },
            timeout_seconds=60,
            on_success={"locked": True},
            unsupported={OSFamily.IOS: _MOBILE, OSFamily.ANDROID: _MOBILE},
        ),
        BuiltinCommand(
            key="restart",
            label="Restart device",
            description="Restarts the device one minute after the command, so the agent can report first.",
            scripts={
                OSFamily.LINUX: (CommandShell.SH, _UNIX_RESTART),
                OSFamily.MACOS: (CommandShell.ZSH, _UNIX_RESTART),
                OSFamily.WINDOWS: (CommandShell.POWERSHELL, _WINDOWS_RESTART),
            },
            timeout_seconds=60,
            unsupported={OSFamily.IOS: _MOBILE, OSFamily.ANDROID: _MOBILE},
        ),
        BuiltinCommand(
            key="erase",
            label="Erase device",
            description=(
                "Erases the device for good: a crypto-erase of its LUKS volumes on Linux, Windows' own "
                "remote wipe on Windows."
            ),
            scripts={
                OSFamily.LINUX: (CommandShell.SH, _LINUX_ERASE),
                OSFamily.WINDOWS: (CommandShell.POWERSHELL, _WINDOWS_ERASE),
            },
            timeout_seconds=300,
            unsupported={
                OSFamily.MACOS: "Apple allows a remote erase of a Mac only through MDM",
                OSFamily.IOS: _MOBILE,
                OSFamily.ANDROID: _MOBILE,
            },
        ),
    )
}


def builtin_key(key: str, os_family: str) -> str:
    """The value of ``Command.builtin`` for a built-in command on an OS family."""
    return f"{key}:{os_family}"


def on_success_fields(builtin: str) -> Mapping[str, Any]:
    """Device fields to set when the built-in command ``builtin`` (``lock:linux``) succeeds."""
    key = builtin.split(":", 1)[0]
    command = BUILTIN_COMMANDS.get(key)
    return command.on_success if command is not None else {}
