"""Credentials are environment references: a secret set in the environment reaches the source (the run
succeeds against a service that accepts only it) and appears nowhere Dagster or the lake stores things:
the code location's snapshot (what the Resources page and the launchpad show), the run's config and
tags, its event log, the instance's storage files, or the lake's files."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.env_secrets import SECRET_VARIABLES, env_secret
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.settings import PlatformSettings
from sandbox.generator.fx import generate_fx
from sandbox.services.fx_api import FxApiServer


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {name: f"s3cr3t-{name.lower()}-{uuid.uuid4().hex}" for name in SECRET_VARIABLES}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_env_secret_is_a_reference_when_set_and_the_sandbox_default_otherwise() -> None:
    assert env_secret("FX_API_TOKEN", "sandbox-token", {"FX_API_TOKEN": "x"}) == dg.EnvVar("FX_API_TOKEN")
    assert env_secret("FX_API_TOKEN", "sandbox-token", {}) == "sandbox-token"
    with pytest.raises(ValueError, match="NOT_A_SECRET is not a known credential"):
        env_secret("NOT_A_SECRET", "x", {})


def test_no_secret_in_the_snapshot_the_run_its_events_the_instance_or_the_lake(
    secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = generate_fx(days=5)
    (tmp_path / "home").mkdir()
    with (
        FxApiServer(dataset, token=secrets["FX_API_TOKEN"]) as server,
        dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance,
    ):
        monkeypatch.setenv("FX_API_URL", server.base_url)
        monkeypatch.setenv("PLATFORM_LAKE_ROOT", str(tmp_path / "lake"))
        settings = PlatformSettings.from_env()
        defs = build_definitions(settings)

        snap = RepositorySnap.from_def(defs.get_repository_def())
        snapshot = serialize_value(snap)
        assert set(snap.utilized_env_vars) == set(SECRET_VARIABLES)  # the Resources page lists them
        for name, value in secrets.items():
            assert value not in snapshot, f"{name}'s value is in the code location's snapshot"
            assert f'{{\\"env\\": \\"{name}\\"}}' in snapshot, f"{name} is not an environment reference"

        server.set_clock("2026-11-01T23:59:59Z")
        driver = SensorDriver(defs, instance, build_resources(settings), "fx_publications_sensor")
        tick = driver.evaluate()
        assert len(tick.run_requests) == 1
        result = driver.execute(tick.run_requests[0])
        assert result.success  # the FX service accepts only the secret: the reference was resolved

        run = instance.get_run_by_id(result.run_id)
        events = serialize_value(instance.all_logs(result.run_id))
        stored = serialize_value([run.run_config, run.tags]) + events
        assert "ASSET_MATERIALIZATION" in events
        for name, value in secrets.items():
            assert value not in stored, f"{name}'s value is in the run's config, tags or event log"
            assert _files_holding(tmp_path, value.encode()) == [], f"{name}'s value is stored on disk"
