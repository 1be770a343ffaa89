"""Bronze steps retry only what can pass: a malformed DMS file fails at once, naming the file and row;
a network error is retried."""

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
from deltalake.exceptions import CommitFailedError

from platform_assets.definitions import build_definitions
from platform_assets.layers import retries
from platform_assets.layers.retries import is_transient, retry_transient_errors
from platform_assets.settings import PlatformSettings
from platform_assets.sources.dms.reader import DmsFileError
from platform_assets.sources.errors import SourceServerError, SourceUnavailableError

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
HEADER = "Op,_dms_commit_ts,customer_id,name,email,phone,address,country,updated_at\n"


def _events(result: dg.ExecuteInProcessResult, kind: str) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type_value == kind]


def test_a_malformed_dms_file_fails_once_in_seconds_naming_file_and_row(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "public" / "customers"
    landing.mkdir(parents=True)
    good = "I,2026-12-01 10:00:00.000000,1,Ann,ann@example.com,,,US,2026-12-01 10:00:00\n"
    (landing / "20261201-100000000.csv").write_text(HEADER + good + "U,2026-12-01 10:00:01.000000,1,Ann\n")
    settings = PlatformSettings.from_env(
        {"PLATFORM_LAKE_ROOT": str(tmp_path / "lake"), "DMS_LANDING_ROOT": str(tmp_path / "landing")}
    )
    job = build_definitions(settings).resolve_implicit_global_asset_job_def()
    started = time.monotonic()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(["bronze", "rds_customers_cdc"])],
            partition_key=datetime.now(UTC).date().isoformat(),
            run_config=QUIET,
            raise_on_error=False,
        )
    assert not result.success and time.monotonic() - started < 20  # was 30 s + 60 s of retries
    assert _events(result, "STEP_UP_FOR_RETRY") == [] and len(_events(result, "STEP_FAILURE")) == 1
    error = _events(result, "STEP_FAILURE")[0].step_failure_data.error
    message = error.message + "".join(c.message for c in [error.cause] if c)
    assert "DMS file " in message and "20261201-100000000.csv, row 2: has 4 values" in message
    assert "max_retries" not in message


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (httpx.ConnectTimeout("timed out"), True),
        (CommitFailedError("a concurrent transaction won"), True),
        (SourceUnavailableError("fx", "http://x", 5, "HTTP 503"), True),
        (SourceServerError("fx", "http://x", 500, "boom"), False),
        (DmsFileError("customers/x.csv", "has 4 values", 2), False),
        (ValueError("bad value"), False),
        (KeyError("x"), False),
    ],
)
def test_which_errors_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_wrapped_transient_cause_and_a_marked_error_are_transient() -> None:
    class PositionMoved(RuntimeError):
        transient = True

    try:
        try:
            raise TimeoutError("read timed out")
        except TimeoutError as inner:
            raise RuntimeError("reading page 3 failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert is_transient(PositionMoved("the stored position changed"))


def test_a_transient_error_is_retried_and_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retries, "FIRST_DELAY_SECONDS", 0.0)
    calls: list[int] = []

    @dg.asset
    @retry_transient_errors
    def flaky(context: dg.AssetExecutionContext):
        calls.append(context.retry_number)
        if len(calls) == 1:
            raise ConnectionRefusedError("the broker is restarting")
        yield dg.MaterializeResult()

    result = dg.materialize([flaky], raise_on_error=False)
    assert result.success and calls == [0, 1]
    assert len(_events(result, "STEP_UP_FOR_RETRY")) == 1
