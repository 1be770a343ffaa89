"""OpenLineage export from the real FX pipeline: every event valid, edges from the source to gold."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from platform_assets.contracts import load_contracts
from platform_assets.operations.lineage import SOURCE_NAMESPACE, TransportSettings, export
from platform_assets_tests.fx_platform import FxPlatform, fx_platform
from platform_assets_tests.openlineage_schema import errors


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path_factory.mktemp("lineage")) as running:
        assert running.run("2026-11-01", "2026-11-02").success
        yield running


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append({"path": self.path, "event": json.loads(body)})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _file_events(platform: FxPlatform, path: Path, after: int | None = None) -> tuple[list[dict], int | None]:
    contracts = load_contracts()
    _, cursor = export(platform.instance, contracts, platform.lake, TransportSettings(file=str(path)), after)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()], cursor


def test_every_event_validates_and_the_edges_run_from_source_to_gold(
    platform: FxPlatform, tmp_path: Path
) -> None:
    events, cursor = _file_events(platform, tmp_path / "events.jsonl")
    assert [(e["job"]["name"], errors(e)) for e in events if errors(e)] == []
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event["eventType"])
    assert by_job == {
        "bronze/fx_rates": ["START", "COMPLETE"],
        "silver/fx_rates": ["START", "COMPLETE"],
        "gold/dim_currency": ["START", "COMPLETE"],
    }

    def short(dataset: dict) -> str:  # a table by layer/table, a source by its name
        return (
            "/".join(dataset["name"].split("/")[-2:]) if dataset["namespace"] == "file" else dataset["name"]
        )

    completes = [e for e in events if e["eventType"] == "COMPLETE"]
    edges = {(short(i), short(o)) for e in completes for i in e["inputs"] for o in e["outputs"]}
    assert edges == {
        ("fx_api", "bronze/fx_rates"),
        ("bronze/fx_rates", "silver/fx_rates"),
        ("silver/fx_rates", "gold/dim_currency"),
    }
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    bronze_input = complete["bronze/fx_rates"]["inputs"][0]
    assert bronze_input["namespace"] == SOURCE_NAMESPACE
    silver = complete["silver/fx_rates"]["outputs"][0]
    assert silver["namespace"] == "file" and silver["name"] == platform.lake.uri("silver/fx_rates")
    assert [f["name"] for f in silver["facets"]["schema"]["fields"]][:2] == ["as_of_date", "ccy"]
    ccy = silver["facets"]["columnLineage"]["fields"]["ccy"]["inputFields"]
    assert ccy == [
        {
            "namespace": "file",
            "name": platform.lake.uri("bronze/fx_rates"),
            "field": "ccy",
            "transformations": [],
        }
    ]
    assertions = silver["facets"]["dataQualityAssertions"]["assertions"]
    assert assertions and all(a["success"] for a in assertions)
    assert silver["outputFacets"]["outputStatistics"]["rowCount"] == 25  # 13 + 12 rates (JPY late)
    # the START and COMPLETE of one step share the run id
    starts = {e["job"]["name"]: e["run"]["runId"] for e in events if e["eventType"] == "START"}
    assert all(starts[j] == e["run"]["runId"] for j, e in complete.items())
    # nothing is sent twice: the next pass starts after the cursor
    transport = TransportSettings(file=str(tmp_path / "again.jsonl"))
    assert export(platform.instance, load_contracts(), platform.lake, transport, cursor)[0] == 0


def test_a_failed_step_sends_fail_with_the_error_over_http(platform: FxPlatform, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        contracts = load_contracts()
        _, cursor = export(
            platform.instance, contracts, platform.lake, TransportSettings(file=str(tmp_path / "a")), None
        )
        # a bronze data file lost from storage: silver for that day cannot read its input and fails
        for lost in Path(platform.lake.uri("bronze/fx_rates")).glob("_proc_date=2026-11-01/*.parquet"):
            lost.unlink()
        failing = platform.run("2026-11-01", selection=["silver/fx_rates"])
        assert failing.skipped_or_failed_steps == ["silver__fx_rates"]
        url = f"http://127.0.0.1:{server.server_address[1]}"
        sent, _ = export(platform.instance, contracts, platform.lake, TransportSettings(url=url), cursor)
    finally:
        server.shutdown()
    events = [r["event"] for r in _Collector.received]
    assert sent == len(events) and all(r["path"] == "/api/v1/lineage" for r in _Collector.received)
    assert [(e["job"]["name"], errors(e)) for e in events if errors(e)] == []
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("silver/fx_rates", "START"),
        ("silver/fx_rates", "FAIL"),
    ]
    fail = events[1]
    assert fail["run"]["runId"] == events[0]["run"]["runId"]
    assert "parquet" in fail["run"]["facets"]["errorMessage"]["message"].lower()
    assert [i["name"] for i in fail["inputs"]] == [platform.lake.uri("bronze/fx_rates")]


def test_the_schema_rejects_what_the_spec_forbids(platform: FxPlatform, tmp_path: Path) -> None:
    """The validator is not a rubber stamp: each planted violation of the spec is named by its path."""
    events, _ = _file_events(platform, tmp_path / "events.jsonl")
    complete = next(
        e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == "silver/fx_rates"
    )
    assert errors(complete) == []

    def broken(change: Callable[[dict], None]) -> list[str]:
        event = copy.deepcopy(complete)
        change(event)
        return errors(event)

    lineage = "outputs/0/facets/columnLineage"
    assert broken(lambda e: e["run"].update(runId="not-a-uuid")) == [
        "run/runId: 'not-a-uuid' is not a 'uuid'"
    ]
    assert broken(lambda e: e.update(eventTime="yesterday")) == [
        "eventTime: 'yesterday' is not a 'date-time'"
    ]
    assert broken(
        lambda e: e["outputs"][0]["facets"]["columnLineage"]["fields"]["ccy"]["inputFields"][0].pop("field")
    )[0] == (f"{lineage}/fields/ccy/inputFields/0: 'field' is a required property")
    assert broken(
        lambda e: e["outputs"][0]["facets"]["columnLineage"].update(_schemaURL="https://example.com/x.json")
    )[0].startswith(f"{lineage}/_schemaURL: 'https://example.com/x.json' does not match")
    assert broken(lambda e: e["outputs"][0]["facets"]["schema"].pop("_producer")) == [
        "outputs/0/facets/schema: '_producer' is a required property"
    ]
    assert broken(lambda e: e["outputs"][0]["outputFacets"]["outputStatistics"].update(rowCount=-1)) == [
        "outputs/0/outputFacets/outputStatistics/rowCount: -1 is less than the minimum of 0"
    ]
    assert broken(lambda e: e.update(eventType="DONE"))[0].startswith("eventType: 'DONE' is not one of")
