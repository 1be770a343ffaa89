"""Data Docs: GX 1.x's own static site, built from the platform's results (GX computes nothing).

Each validation is one step's rules on one partition of one dataset (``ops/quality_results`` rows
of one run, dataset and partition). They are stored as ``ExpectationSuiteValidationResult``s in a
file context's validation store (``meta["run_id"]`` must be set, or GX silently leaves the page
out) and rendered with ``build_data_docs``: one page per validation under
``<site>/gx/uncommitted/data_docs/local_site/validations/``. The last ``RUNS`` runs are kept.
GX is imported here only, when the site is built (it costs seconds and ~290 MB).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import QueryBuilder

from platform_assets.contracts.model import Contract
from platform_assets.contracts.rules import EXPECTATIONS, Rule
from platform_assets.governance.samples import SampleGovernor
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.quality.results import quality_results_uri

RUNS = 50
SITE = Path("gx/uncommitted/data_docs/local_site")


@dataclass(frozen=True)
class DataDocsSite:
    index: Path
    validations: int


def suite_name(dataset: str) -> str:
    return dataset.replace("/", ".")


def _rows(lake: Lake, sql: str) -> list[dict]:
    table = open_table(quality_results_uri(lake), lake.storage_options)
    if table is None:
        return []
    reader = QueryBuilder().register("t", table).execute(sql)
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


def _config(rule: Rule) -> Any:
    """The rule as a GX expectation configuration (None when GX has no such expectation)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = ExpectationConfiguration(
        type=rule.expectation,
        kwargs=dict(rule.args),
        meta={"rule": rule.name, "severity": rule.severity.value, "dimension": rule.dimension},
    )
    try:
        config.to_domain_obj()
    except Exception:
        return None
    return config


def _result(row: dict, config: Any, governor: SampleGovernor) -> Any:
    from great_expectations.core import ExpectationValidationResult

    stored = json.loads(row["failing_sample"]) if row["failing_sample"] else []
    sample = (governor.rows(row["dataset"], stored) or []) if stored else []  # the report role's view
    column = row["columns"][0] if row["columns"] else None
    result: dict[str, Any] = {
        "element_count": row["rows_evaluated"],
        "unexpected_count": row["rows_failed"],
        "unexpected_percent": row["failed_percent"],
        "partial_unexpected_list": [r.get(column) for r in sample] if column else [],
    }
    if not EXPECTATIONS[row["expectation"]].row_level:  # column exists, row count: one observation
        result = {"observed_value": "failed" if not row["passed"] else "passed"}
    return ExpectationValidationResult(
        success=bool(row["passed"]), expectation_config=config, result=result, exception_info=None
    )


def build_data_docs(lake: Lake, contracts: dict[str, Contract], out_dir: Path) -> DataDocsSite:
    """Rebuild the site in ``out_dir`` from the last ``RUNS`` runs' evaluations."""
    import great_expectations as gx
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    governor = SampleGovernor.for_reports(contracts)
    shutil.rmtree(out_dir / "gx", ignore_errors=True)  # a rebuild, not an accretion
    context = gx.get_context(mode="file", project_root_dir=str(out_dir))
    configs: dict[str, dict[str, Any]] = {}
    for dataset, contract in sorted(contracts.items()):
        by_rule = {r.name: c for r in contract.rules if (c := _config(r)) is not None}
        configs[dataset] = by_rule
        suite = ExpectationSuite(
            name=suite_name(dataset), expectations=[c.to_domain_obj() for c in by_rule.values()]
        )
        suite.meta["description"] = " ".join(contract.description.split())
        context.suites.add_or_update(suite)
    runs = _rows(
        lake, f"SELECT run_id, MAX(evaluated_at) AS at FROM t GROUP BY run_id ORDER BY at DESC LIMIT {RUNS}"
    )
    count = 0
    for run in runs:
        run_id = run["run_id"].replace("'", "''")
        rows = _rows(
            lake, f"SELECT * FROM t WHERE run_id = '{run_id}' ORDER BY dataset, \"partition\", rule_name"
        )
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in rows:
            groups[(row["dataset"], row["partition"] or "whole_table")].append(row)
        for (dataset, partition), members in sorted(groups.items()):
            known = configs.get(dataset, {})
            results = [
                _result(r, known[r["rule_name"]], governor) for r in members if r["rule_name"] in known
            ]
            if not results:
                continue
            passed = sum(1 for r in results if r.success)
            identifier = RunIdentifier(run_name=run["run_id"], run_time=members[0]["evaluated_at"])
            validation = ExpectationSuiteValidationResult(
                success=passed == len(results),
                results=results,
                suite_name=suite_name(dataset),
                statistics={
                    "evaluated_expectations": len(results),
                    "successful_expectations": passed,
                    "unsuccessful_expectations": len(results) - passed,
                    "success_percent": round(100.0 * passed / len(results), 2),
                },
                meta={
                    "run_id": identifier,
                    "batch_spec": {"data_asset_name": f"{dataset} partition {partition}"},  # the page header
                    "active_batch_definition": {
                        "datasource_name": "lake",
                        "data_connector_name": "ops_quality_results",
                        "data_asset_name": dataset,
                        "batch_identifiers": {"partition": partition},
                    },
                    "platform": {"action": members[0]["action"], "dagster_run_id": run["run_id"]},
                },
            )
            key = ValidationResultIdentifier(
                ExpectationSuiteIdentifier(suite_name(dataset)), identifier, partition
            )
            context.validation_results_store.set(key, validation)
            count += 1
    governor.audit(lake, "Data Docs")  # before the site is written
    context.build_data_docs()
    return DataDocsSite(out_dir / SITE / "index.html", count)
