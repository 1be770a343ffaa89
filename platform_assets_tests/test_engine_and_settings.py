"""Engine selection by configuration, and the settings read from the environment."""

from pathlib import Path

import pytest

from platform_assets.engine.spark_resource import EngineError, SparkEngine
from platform_assets.settings import PlatformSettings, SettingsError


def test_a_spark_connect_url_selects_that_server(tmp_path: Path) -> None:
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    host, port = server.listening_address
    engine = SparkEngine(engine="connect", connect_url=f"sc://{host}:{port}")
    try:
        sail = SparkEngine().get_session()
        spark = engine.get_session()
        assert spark is not sail  # a session of its own, on the URL given
        path = str(tmp_path / "t")
        spark.createDataFrame([(1, "a"), (2, "b")], "k int, v string").write.format("delta").save(path)
        assert sorted(r.k for r in spark.read.format("delta").load(path).collect()) == [1, 2]
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        engine.stop_session()  # a session left behind would retry its dead server at exit
        server.stop()
    # the embedded engine's session is untouched by the other session's life and death
    sail = SparkEngine().get_session()
    assert sail.range(3).count() == 3


def test_engine_misconfiguration_is_explained() -> None:
    with pytest.raises(EngineError, match="needs connect_url"):
        SparkEngine(engine="connect").get_session()
    with pytest.raises(EngineError, match="unknown engine 'flink'"):
        SparkEngine(engine="flink").get_session()


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    defaults = PlatformSettings.from_env({})
    assert defaults.engine == "sail" and defaults.lake_root.endswith("/.lake")
    assert Path(defaults.lake_root).is_absolute()
    custom = PlatformSettings.from_env(
        {
            "PLATFORM_LAKE_ROOT": str(tmp_path),
            "PLATFORM_ENGINE": "connect",
            "PLATFORM_SPARK_CONNECT_URL": "sc://spark:15002",
            "PLATFORM_STORAGE_OPTIONS": '{"timeout": "30s"}',
        }
    )
    assert (custom.lake_root, custom.engine, custom.spark_connect_url) == (
        str(tmp_path),
        "connect",
        "sc://spark:15002",
    )
    assert custom.storage_options == {"timeout": "30s"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLATFORM_ENGINE": "flink"}, "PLATFORM_ENGINE='flink' is not one of sail, connect, local"),
        ({"PLATFORM_ENGINE": "connect"}, "needs PLATFORM_SPARK_CONNECT_URL"),
        ({"PLATFORM_STORAGE_OPTIONS": "{oops"}, "PLATFORM_STORAGE_OPTIONS is not a JSON object"),
        ({"PLATFORM_STORAGE_OPTIONS": "[1]"}, "must be a JSON object"),
        ({"PLATFORM_RUN_EXECUTOR": "threads"}, "PLATFORM_RUN_EXECUTOR='threads' is not one of in_process"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        PlatformSettings.from_env(env)


def test_the_spark_master_is_configuration_not_code() -> None:
    default = SparkEngine.from_settings(PlatformSettings.from_env({"PLATFORM_ENGINE": "local"}))
    assert default.master == "local[2]"
    env = {"PLATFORM_ENGINE": "local", "PLATFORM_SPARK_MASTER": "spark://127.0.0.1:7077"}
    on_cluster = SparkEngine.from_settings(PlatformSettings.from_env(env))
    assert (on_cluster.engine, on_cluster.master) == ("local", "spark://127.0.0.1:7077")
    env = {"PLATFORM_ENGINE": "connect", "PLATFORM_SPARK_CONNECT_URL": "sc://127.0.0.1:15002"}
    assert SparkEngine.from_settings(PlatformSettings.from_env(env)).connect_url == "sc://127.0.0.1:15002"


def test_runs_execute_in_process_unless_configured(tmp_path: Path) -> None:
    """A step subprocess re-imports the platform and starts an engine of its own: in-process by default."""
    from platform_assets.definitions import build_definitions

    def executors(env: dict[str, str]) -> set[str]:
        defs = build_definitions(PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path)} | env))
        return {job.executor_def.name for job in defs.resolve_all_job_defs()}

    assert executors({}) == {"in_process"}
    assert executors({"PLATFORM_RUN_EXECUTOR": "multiprocess"}) == {"multiprocess"}
