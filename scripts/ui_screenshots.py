"""Screenshots of the Dagster UI for docs/operating.md, by headless Chromium (Debian's package).

Run against a UI that `platform up` serves:  .venv/bin/python scripts/ui_screenshots.py http://127.0.0.1:3000
Writes docs/img/<page>.png at 1400x1000, reduced to a 64-colour palette so they stay small.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from PIL import Image

PAGES = {
    "runs": "/runs",
    "asset_checks": "/assets/silver/fx_rates?view=checks&checkDetail=ccy_not_null",
    "sensors": "/automation",
    "alerts": "/assets/ops/alerts",
}
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def shoot(url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                "--window-size=1400,1000",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    image = Image.open(out).convert("RGB").quantize(colors=64)
    image.save(out, optimize=True)


def main(base: str) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    # the "Join the Dagster community" dialog covers every page of a new instance: mark it seen
    httpx.post(f"{base.rstrip('/')}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=60)
    for name, path in PAGES.items():
        target = OUT / f"{name}.png"
        shoot(base.rstrip("/") + path, target)
        print(f"{target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"))
