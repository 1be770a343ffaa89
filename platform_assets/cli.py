"""`platform`: the platform's command line (see docs/commands.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import date


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform", description="platform_assets lakehouse commands")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the sandbox sources through bronze, silver and gold")
    demo.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 11, 1), help="first business date"
    )
    demo.add_argument("--days", type=int, default=7, help="number of business days to publish and process")
    demo.add_argument("--seed", type=int, default=7, help="sandbox generator seed")
    demo.add_argument(
        "--keep-lake", action="store_true", help="keep the previous demo lake instead of starting afresh"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from platform_assets.demo import run_demo

        return run_demo(args.start, args.days, args.seed, fresh=not args.keep_lake)
    return 2


if __name__ == "__main__":
    sys.exit(main())
