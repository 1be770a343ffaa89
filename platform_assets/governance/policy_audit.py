"""A change of ``governance/policies.yaml`` is a row in ``ops/audit_log`` (action ``policy_change``).

The policies are a file in git, deployed with the code; the platform notices a new version the first
time it uses it (a governed read, the serve endpoint's catalog, a report, the write-audit sensor's
tick) and audits it before acting on it: the file's SHA-256, who was running the platform, which roles
were added, removed or changed against the previously audited version, and the full text (policies
hold no secrets), so the next change can be compared and any version read back from the log.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import yaml
from deltalake import QueryBuilder

from platform_assets.governance.policy_model import POLICIES_FILE
from platform_assets.lake.audit_log import audit_uri, audit_write
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

ACTION = "policy_change"


def _last_audited(lake: Lake) -> tuple[str, str] | None:
    """(sha256, text) of the newest audited policies version, None if none was audited."""
    table = open_table(audit_uri(lake), lake.storage_options)
    if table is None:
        return None
    reader = (
        QueryBuilder()
        .register("t", table)
        .execute(f"SELECT statement, reason FROM t WHERE action = '{ACTION}' ORDER BY at DESC LIMIT 1")
    )
    rows = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    if not rows:
        return None
    return rows[0]["statement"].split(";")[0].split()[-1], rows[0]["reason"]


def _role_changes(old_text: str | None, new_text: str) -> list[str]:
    new = (yaml.safe_load(new_text) or {}).get("roles", {})
    if old_text is None:
        return [f"first audited version: roles {', '.join(sorted(new))}"]
    old = (yaml.safe_load(old_text) or {}).get("roles", {})
    changes = [f"role {r} added" for r in sorted(set(new) - set(old))]
    changes += [f"role {r} removed" for r in sorted(set(old) - set(new))]
    changes += [f"role {r} changed" for r in sorted(set(old) & set(new)) if old[r] != new[r]]
    top = {k: v for k, v in (yaml.safe_load(new_text) or {}).items() if k != "roles"}
    before = {k: v for k, v in (yaml.safe_load(old_text) or {}).items() if k != "roles"}
    changes += [f"{k} changed" for k in sorted(set(top) | set(before)) if top.get(k) != before.get(k)]
    return changes or ["formatting or comments only"]


def audit_policy_version(lake: Lake, path: Path = POLICIES_FILE) -> bool:
    """Record the policies file if its version differs from the last audited one; True if recorded."""
    text = path.read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    last = _last_audited(lake)
    if last is not None and last[0] == digest:
        return False
    audit_write(
        lake,
        ACTION,
        role="policy_admin",
        statement=f"policies {path.name} sha256 {digest}; "
        + "; ".join(_role_changes(last[1] if last else None, text)),
        reason=text,
    )
    return True
