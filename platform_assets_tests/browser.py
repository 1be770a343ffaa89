"""Headless Chromium (Debian's package) for tests of pages a person looks at: DOM and screenshot."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,2400",
    "--virtual-time-budget=10000",
]


def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is not installed: run `make install` (it installs Debian's chromium)")
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def dump_dom(url: str) -> tuple[str, str]:
    """The rendered DOM of ``url`` and Chromium's stderr (console errors show there)."""
    done = _run(["--enable-logging=stderr", "--v=0", "--dump-dom", url])
    return done.stdout, done.stderr


def screenshot(url: str, out: Path) -> Path:
    _run([f"--screenshot={out}", url])
    return out
