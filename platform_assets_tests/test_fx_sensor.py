"""The FX publications sensor against the real sandbox service, its clock moved day by day."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from platform_assets.sensors.fx_publications import plan_fx_run
from platform_assets.settings import PlatformSettings
from platform_assets.sources.errors import SourceAuthError
from platform_assets.sources.fx_api.resource import FxApiResource
from platform_assets_tests.fx_platform import FxPlatform, fx_platform

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[FxPlatform]:
    with fx_platform(tmp_path) as running:
        yield running


def _tick(platform: FxPlatform, cursor: str | None, resources: dict | None = None) -> SensorExecutionData:
    sensor = platform.defs.resolve_sensor_def("fx_publications_sensor")
    context = dg.build_sensor_context(
        instance=platform.instance, cursor=cursor, resources=resources or platform.resources()
    )
    return sensor.evaluate_tick(context)


def _at_end_of(platform: FxPlatform, day: str) -> None:
    platform.server.set_clock(f"{day}T23:59:59Z")


def test_each_arrival_is_requested_once_with_a_unique_run_key(platform: FxPlatform) -> None:
    _at_end_of(platform, "2026-11-01")
    first = _tick(platform, None)
    assert [r.run_key for r in first.run_requests] == ["fx_publications:1-1"]
    assert tuple(first.run_requests[0].tags[t] for t in RANGE) == ("2026-11-01", "2026-11-01")
    assert first.cursor == "1"

    again = _tick(platform, first.cursor)
    assert again.run_requests == [] and again.skip_message == "no publication after seq 1"

    _at_end_of(platform, "2026-11-03")
    catch_up = _tick(platform, first.cursor)
    assert [r.run_key for r in catch_up.run_requests] == ["fx_publications:2-3"]
    assert tuple(catch_up.run_requests[0].tags[t] for t in RANGE) == ("2026-11-02", "2026-11-03")
    assert catch_up.cursor == "3"

    # 11-04 brings the late JPY for 11-02, the day's rates and the EUR correction: one range run
    _at_end_of(platform, "2026-11-04")
    late = _tick(platform, catch_up.cursor)
    assert [r.run_key for r in late.run_requests] == ["fx_publications:4-6"]
    assert tuple(late.run_requests[0].tags[t] for t in RANGE) == ("2026-11-02", "2026-11-04")
    assert late.run_requests[0].tags["platform/publications"] == "3"
    assert late.cursor == "6"


def test_the_cursor_survives_a_restart(platform: FxPlatform) -> None:
    _at_end_of(platform, "2026-11-02")
    stored = _tick(platform, None).cursor  # what the daemon stores after the tick
    _at_end_of(platform, "2026-11-02")
    after_restart = _tick(platform, stored)
    assert after_restart.run_requests == []


def test_an_unreachable_api_is_a_skip_with_the_reason(platform: FxPlatform) -> None:
    resources = {"fx_api": FxApiResource(base_url="http://127.0.0.1:9", token="t", max_attempts=1)}
    result = _tick(platform, "4", resources)
    assert result.run_requests == []
    assert "FX API not reachable" in result.skip_message and "sandbox start" in result.skip_message
    assert result.cursor in (None, "4")


def test_a_rejected_token_fails_the_tick_loudly(platform: FxPlatform) -> None:
    resources = {"fx_api": FxApiResource(base_url=platform.server.base_url, token="wrong")}
    with pytest.raises(SourceAuthError, match="answered HTTP 401: the token was rejected"):
        _tick(platform, None, resources)


def test_plan_spans_from_the_earliest_business_date_to_the_latest_publication_day() -> None:
    publications = [
        {"seq": 7, "as_of_date": "2026-11-05", "published_date": "2026-11-05"},
        {"seq": 8, "as_of_date": "2026-10-30", "published_date": "2026-11-05"},
    ]
    request = plan_fx_run(publications)
    assert request is not None and request.run_key == "fx_publications:7-8"
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2026-10-30", "2026-11-05")
    assert plan_fx_run([]) is None


def test_settings_select_the_api(tmp_path: Path) -> None:
    settings = PlatformSettings.from_env({"FX_API_URL": "http://fx:1", "FX_API_TOKEN": "s3cret"})
    assert (settings.fx_api_url, settings.fx_api_token) == ("http://fx:1", "s3cret")
