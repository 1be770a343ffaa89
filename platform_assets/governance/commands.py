"""The governance subcommands of `platform` (wired into platform_assets/cli.py): erase, pii-scan,
clone, catalog, impact, and `contracts diff` (its parser sits with `contracts check`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parsers(commands: argparse._SubParsersAction) -> None:
    erase = commands.add_parser(
        "erase", help="remove a person from every layer and old version, verify, audit, suppress at bronze"
    )
    erase.add_argument("--subject", required=True, help="customer_id=123 or email=jane@example.com")
    erase.add_argument("--reason", default="", help="why (the request reference), kept in the audit log")
    scan = commands.add_parser(
        "pii-scan",
        help="sample text columns for emails, phones, cards, IBANs not classified pii (exit 1 if any)",
    )
    clone = commands.add_parser(
        "clone", help="copy the lake into a non-production lake with every PII column tokenized at rest"
    )
    clone.add_argument("--env", required=True, choices=("dev", "staging"), help="the target environment")
    clone.add_argument("--target", required=True, help="root of the target lake (a folder or s3://...)")
    scan.add_argument("--sample", type=int, default=1000, help="rows sampled per table (default 1000)")
    catalog = commands.add_parser("catalog", help="the data dictionary from the contracts: search it")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    found = catalog_commands.add_parser(
        "search", help="datasets and columns by name, description, classification, owner, domain or tag"
    )
    found.add_argument("term", help="e.g. email, pii, crm-team, revenue")
    build = catalog_commands.add_parser(
        "build", help="write the static HTML catalog site (a page per dataset, column lineage, search)"
    )
    build.add_argument("--out", required=True, type=Path, help="folder to write the site into")
    impact = commands.add_parser(
        "impact", help="downstream columns, datasets, roles and quality rules a change would touch"
    )
    impact.add_argument("target", help="layer/table or layer/table.column, e.g. silver/customers.email")


def dispatch(args: argparse.Namespace) -> int | None:
    if args.command == "erase":
        return _erase(args)
    if args.command == "clone":
        return _clone(args)
    if args.command == "pii-scan":
        return _pii_scan(args)
    if args.command == "catalog" and args.catalog_command == "build":
        return _catalog_build(args.out)
    if args.command == "catalog":
        return _catalog_search(args.term)
    if args.command == "impact":
        return _impact(args.target)
    return None


def contracts_diff(base: str, directory: Path | None = None, policies_file: Path | None = None) -> int:
    import subprocess

    from platform_assets.contracts import ContractError, load_contracts
    from platform_assets.contracts.loader import CONTRACTS_DIR
    from platform_assets.governance.contract_diff import contracts_at, diff_contracts
    from platform_assets.governance.policy_model import POLICIES_FILE, PolicyError, load_policies

    directory = directory or CONTRACTS_DIR
    try:
        old = contracts_at(base, directory=directory)
    except subprocess.CalledProcessError as exc:
        print(
            f"contracts diff: git could not read {base!r}: {(exc.stderr or b'').strip()!r}", file=sys.stderr
        )
        return 2
    except ContractError as exc:
        print(f"contracts diff: the contracts at {base} do not load: {exc}", file=sys.stderr)
        return 2
    try:
        new = load_contracts(directory)
    except ContractError as exc:
        print(f"contracts diff: the working contracts do not load: {exc}", file=sys.stderr)
        return 2
    try:
        policies = load_policies(new, policies_file or POLICIES_FILE)
    except PolicyError as exc:
        print(f"contracts diff: {exc}", file=sys.stderr)
        return 2
    changes = diff_contracts(old, new, policies)
    for change in changes:
        print(change)
    blocking = [c for c in changes if c.blocking]
    needing = [c for c in changes if c.needs_approval]
    print(
        f"{len(changes)} change(s) since {base}: {len(needing)} need an approval, "
        f"{len(blocking)} not approved"
    )
    return 1 if blocking else 0


def _catalog_search(term: str) -> int:
    from platform_assets.contracts import load_contracts
    from platform_assets.governance.catalog import search

    hits = search(load_contracts(), term)
    for hit in hits:
        print(hit)
    print(f"{len(hits)} match(es) for {term!r}")
    return 0 if hits else 1


def _catalog_build(out: Path) -> int:
    from platform_assets.governance.catalog_site import build_site
    from platform_assets.governance.read_path import Governance
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    governance = Governance.load()
    index = build_site(settings.lake, governance.contracts, governance.policies, out)
    print(f"catalog: {len(governance.contracts)} dataset page(s) and the search index in {out}; open {index}")
    return 0


def _impact(target: str) -> int:
    from platform_assets.governance.catalog import impact
    from platform_assets.governance.read_path import Governance

    governance = Governance.load()
    try:
        found = impact(governance.contracts, governance.policies, target)
    except KeyError as exc:
        print(f"impact: {exc.args[0]}", file=sys.stderr)
        return 2
    print("\n".join(found.lines()))
    return 0


def _erase(args: argparse.Namespace) -> int:
    from platform_assets.contracts import load_contracts
    from platform_assets.governance.erasure import ErasureError, Subject, SubjectConfig, erase
    from platform_assets.lake import suppression
    from platform_assets.lake.audit_log import audit_write
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    lake = settings.lake
    config = SubjectConfig.load()
    try:
        subject = Subject.parse(args.subject, config)
    except ErasureError as exc:
        print(f"erase: {exc}", file=sys.stderr)
        return 2
    outcome = erase(lake, load_contracts(), subject, config)
    shown = f"customer_id={subject.value}" if subject.kind == "customer_id" else f"{subject.kind}=(given)"
    if outcome.rows:
        suppression.add(lake, outcome.identity.ids, outcome.identity.emails)
    counts = ", ".join(f"{label}={n}" for label, n in sorted(outcome.rows.items()))
    audit_write(
        lake,
        "erase",
        role="erasure",
        datasets=sorted(outcome.rows),
        statement=f"erase customer_id(s) {', '.join(map(str, outcome.identity.ids))} (asked as {shown})",
        row_count=sum(outcome.rows.values()),
        reason=(args.reason + "; " if args.reason else "")
        + f"rows: {counts}; files vacuumed: {outcome.files_removed}; "
        + ("verified: no reachable version holds the subject" if not outcome.findings else "NOT verified"),
    )
    if not outcome.rows:
        print(f"erase: no stored data identifies {shown}; nothing changed", file=sys.stderr)
        return 1
    print(f"erased customer_id(s) {', '.join(map(str, outcome.identity.ids))} ({shown})")
    for label, count in sorted(outcome.rows.items()):
        print(f"  {label:<40} {count:>6} row(s)")
    print(f"  {outcome.files_removed} old data file(s) vacuumed; added to the suppression list")
    if outcome.findings:
        print("verification FAILED, the subject is still in:", file=sys.stderr)
        for finding in outcome.findings:
            print(f"  {finding}", file=sys.stderr)
        return 1
    print("verified: no version reachable by time travel, data file or log entry holds the subject")
    return 0


def _pii_scan(args: argparse.Namespace) -> int:
    from platform_assets.contracts import load_contracts
    from platform_assets.governance.pii_scan import scan_lake
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    contracts = load_contracts()
    findings = scan_lake(settings.lake, contracts, args.sample)
    for finding in findings:
        print(f"warning: {finding}")
    print(
        f"{len(findings)} column(s) hold PII their contract does not classify ({len(contracts)} datasets scanned)"
    )
    return 1 if findings else 0


def _clone(args: argparse.Namespace) -> int:
    from platform_assets.engine.spark_resource import SparkEngine
    from platform_assets.governance.clone import CloneError, clone_masked
    from platform_assets.governance.read_path import Governance
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings.from_env()
    source = settings.lake
    target = PlatformSettings.from_env({**os.environ, "PLATFORM_LAKE_ROOT": args.target})
    if target.lake_root.rstrip("/") == source.root.rstrip("/"):
        print("clone: --target is the source lake", file=sys.stderr)
        return 2
    spark = SparkEngine.from_settings(settings).get_session()
    try:
        copied = clone_masked(spark, source, target.lake, args.env, Governance.load())
    except CloneError as exc:
        print(f"clone: {exc}", file=sys.stderr)
        return 2
    for relative, rows in sorted(copied.items()):
        print(f"  {relative:<40} {rows:>8} rows")
    print(f"{len(copied)} tables cloned into {target.lake_root} ({args.env}), PII tokenized at rest")
    return 0
