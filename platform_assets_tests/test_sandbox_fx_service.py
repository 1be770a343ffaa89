"""The sandbox FX service over real HTTP: auth, pagination, the clock, fault injection and the CLI."""

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from platform_assets.sources.errors import SourceTlsError
from platform_assets.sources.fx_api.connector import FxApiConnector
from sandbox.generator.fx import generate_fx
from sandbox.services.fx_api import FxApiServer
from sandbox.services.ports import free_port
from sandbox.services.tls import sandbox_ca_path, verify_with

AUTH = {"Authorization": "Bearer test-token"}
# 16 records: late JPY (09:00), the normal publication with a duplicate EUR (16:00), the correction (18:30).
DAY3 = date(2026, 11, 4)


# One pooled client: a fresh httpx client per call costs ~50 ms (TLS context) and would dominate the run.
HTTP = httpx.Client(timeout=5.0, trust_env=False)


def get(
    server: FxApiServer, path: str, headers: dict[str, str] | None = AUTH, **params: object
) -> httpx.Response:
    return HTTP.get(server.base_url + path, params=params, headers=headers)


def all_pages(server: FxApiServer, path: str, **params: object) -> list[list[dict]]:
    pages: list[list[dict]] = []
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        body = get(server, path, **query).json()
        pages.append(body["data"])
        token = body["next_page_token"]
        if token is None:
            return pages


@pytest.mark.parametrize(
    "headers", [None, {"Authorization": "Bearer wrong"}, {"Authorization": "test-token"}]
)
def test_v1_routes_need_the_bearer_token(fx_server: FxApiServer, headers: dict[str, str] | None) -> None:
    for path in ("/v1/rates?published_date=2026-11-01", "/v1/publications"):
        response = HTTP.get(fx_server.base_url + path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert response.json()["message"]


def test_health_needs_no_token(fx_server: FxApiServer) -> None:
    assert get(fx_server, "/health", headers=None).json()["status"] == "ok"


def test_rates_of_a_day_are_the_datasets_records(fx_server: FxApiServer) -> None:
    for d in fx_server.dataset.as_of_dates:
        body = get(fx_server, "/v1/rates", published_date=d.isoformat()).json()
        assert body == {"data": fx_server.dataset.records_published_on(d), "next_page_token": None}


def test_pagination_returns_each_record_once_in_stable_order(fx_server: FxApiServer) -> None:
    pages = all_pages(fx_server, "/v1/rates", published_date=DAY3.isoformat(), page_size=5)
    assert [len(p) for p in pages] == [5, 5, 5, 1]
    assert [r for p in pages for r in p] == fx_server.dataset.records_published_on(DAY3)
    # An exact fit gives one page and no token; asking again gives the same order.
    assert all_pages(fx_server, "/v1/rates", published_date=DAY3.isoformat(), page_size=16) == [
        [r for p in pages for r in p]
    ]


def test_a_day_without_publications_is_one_empty_page(fx_server: FxApiServer) -> None:
    assert get(fx_server, "/v1/rates", published_date="2026-10-01").json() == {
        "data": [],
        "next_page_token": None,
    }


def test_publications_feed_pages_and_since_seq(fx_server: FxApiServer) -> None:
    pages = all_pages(fx_server, "/v1/publications", page_size=4)
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [p for page in pages for p in page] == [p.summary() for p in fx_server.dataset.publications]
    assert pages[0][3] == {
        "publication_id": "fx-20261102-r1-jpy-late",
        "as_of_date": "2026-11-02",
        "published_at": "2026-11-04T09:00:00Z",
        "published_date": "2026-11-04",
        "seq": 4,
        "record_count": 1,
    }
    later = get(fx_server, "/v1/publications", since_seq=7).json()["data"]
    assert [p["seq"] for p in later] == [8, 9]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "published_date"),
        ({"published_date": "2026-11-4"}, "published_date"),
        ({"published_date": "2026-13-01"}, "published_date"),
        ({"published_date": "2026-11-04", "page_size": "0"}, "page_size"),
        ({"published_date": "2026-11-04", "page_size": "1001"}, "page_size"),
        ({"published_date": "2026-11-04", "page_size": "ten"}, "page_size"),
        ({"published_date": "2026-11-04", "page_token": "not-a-token"}, "page_token"),
    ],
)
def test_bad_rates_parameters_are_400_naming_the_parameter(
    fx_server: FxApiServer, params: dict[str, str], parameter: str
) -> None:
    response = get(fx_server, "/v1/rates", **params)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert parameter in response.json()["message"]


def test_page_token_of_another_day_is_rejected(fx_server: FxApiServer) -> None:
    token = get(fx_server, "/v1/rates", published_date="2026-11-04", page_size=5).json()["next_page_token"]
    response = get(fx_server, "/v1/rates", published_date="2026-11-05", page_token=token)
    assert response.status_code == 400
    assert response.json()["message"] == "page_token was issued for a different query"


def test_clock_hides_publications_from_the_future(fx_server: FxApiServer) -> None:
    assert fx_server.set_clock("2026-11-04T12:00:00Z") == "2026-11-04T12:00:00Z"
    day3 = get(fx_server, "/v1/rates", published_date="2026-11-04").json()["data"]
    assert [(r["ccy"], r["as_of_date"]) for r in day3] == [("JPY", "2026-11-02")]
    assert [p["seq"] for p in get(fx_server, "/v1/publications").json()["data"]] == [1, 2, 3, 4]
    assert get(fx_server, "/v1/rates", published_date="2026-11-05").json()["data"] == []

    fx_server.set_clock("2026-11-04T18:30:00Z")  # inclusive: the correction is visible at its instant
    assert len(get(fx_server, "/v1/rates", published_date="2026-11-04").json()["data"]) == 16
    assert [p["seq"] for p in get(fx_server, "/v1/publications", since_seq=4).json()["data"]] == [5, 6]

    fx_server.set_clock(None)  # back to the default: everything published
    assert len(get(fx_server, "/v1/publications").json()["data"]) == 9


def test_clock_rejects_timestamps_without_timezone(fx_server: FxApiServer) -> None:
    response = HTTP.post(fx_server.base_url + "/_sandbox/clock", json={"now": "2026-11-04T12:00:00"})
    assert response.status_code == 400
    assert "timezone" in response.json()["message"]


def test_injected_429_carries_retry_after_and_is_counted(fx_server: FxApiServer) -> None:
    fx_server.set_faults(rate_429=1.0, retry_after_seconds=2.5)
    response = get(fx_server, "/v1/rates", published_date="2026-11-04")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"  # whole seconds, rounded up
    assert response.json()["error"] == "rate_limited"
    stats = fx_server.stats()
    assert (stats["requests"], stats["responses_429"], stats["responses_5xx"]) == (1, 1, 0)


def test_outage_answers_every_v1_request_with_503(fx_server: FxApiServer) -> None:
    fx_server.set_faults(outage=True)
    statuses = [get(fx_server, "/v1/publications").status_code for _ in range(3)]
    assert statuses == [503, 503, 503]
    assert get(fx_server, "/health", headers=None).status_code == 200  # not a /v1 route
    assert fx_server.stats()["by_status"] == {"503": 3}
    fx_server.set_faults(outage=False)
    assert get(fx_server, "/v1/publications").status_code == 200


def test_fault_sequence_replays_with_the_same_seed(fx_server: FxApiServer) -> None:
    def statuses() -> list[int]:
        fx_server.set_faults(rate_429=0.3, rate_5xx=0.3, seed=11)
        return [get(fx_server, "/v1/publications").status_code for _ in range(20)]

    first = statuses()
    assert statuses() == first
    assert {200, 429, 503} == set(first)
    stats = fx_server.stats()
    assert stats["requests"] == 40
    assert stats["responses_429"] == 2 * first.count(429)
    assert stats["responses_5xx"] == 2 * first.count(503)


def test_bad_fault_settings_are_400(fx_server: FxApiServer) -> None:
    for body in ({"rate_429": 1.5}, {"outage": "yes"}, {"rate_4xx": 0.1}):
        response = HTTP.post(fx_server.base_url + "/_sandbox/faults", json=body)
        assert response.status_code == 400, body


def test_cli_start_status_stop_round_trip(tmp_path: Path) -> None:
    """`sandbox start` serves HTTPS with the sandbox home's CA: the platform's FX client verifies it with
    that CA (FX_API_CA_PATH), and is refused, at once and naming the setting, without it."""
    port = free_port()
    env = {
        **os.environ,
        "SANDBOX_HOME": str(tmp_path),
        "SANDBOX_FX_PORT": str(port),
        "SANDBOX_FX_TOKEN": "cli-tok",
    }

    def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sandbox", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    url = f"https://127.0.0.1:{port}"
    ca = str(sandbox_ca_path(tmp_path))
    started = sandbox("start", "--days", "5")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        pid = int((tmp_path / "fx.pid").read_text())
        assert started.stdout.strip() == f"fx_api started at {url} (pid {pid}, token cli-tok)"
        rates = httpx.get(
            f"{url}/v1/rates?published_date=2026-11-05",
            headers={"Authorization": "Bearer cli-tok"},
            verify=verify_with(ca),
            trust_env=False,
        )
        assert len(rates.json()["data"]) == 13
        with FxApiConnector(url, "cli-tok", ca_path=ca) as connector:
            published = generate_fx(seed=7, start=date(2026, 11, 1), days=5).publications
            assert len(connector.list_publications(0)) == len(published) == 7
        # without the sandbox CA (the system store) the certificate is refused, not retried
        sleeps: list[float] = []
        refused = r"TLS certificate was not verified \(unable to get local issuer.*FX_API_CA_PATH"
        connector = FxApiConnector(url, "cli-tok", sleep=sleeps.append)
        with connector, pytest.raises(SourceTlsError, match=refused):
            connector.list_publications(0)
        assert sleeps == []
        with pytest.raises(httpx.RemoteProtocolError):  # no plaintext HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)

        again = sandbox("start")
        assert (again.returncode, again.stdout.strip()) == (
            0,
            f"fx_api already running at {url} (pid {pid}, token cli-tok)",
        )
        status = sandbox("status")
        assert (status.returncode, status.stdout.strip()) == (
            0,
            f"fx_api running at {url} (pid {pid}, healthy)",
        )
    finally:
        stopped = sandbox("stop")
    assert (stopped.returncode, stopped.stdout.strip()) == (0, f"fx_api stopped (pid {pid})")
    assert not (tmp_path / "fx.pid").exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", verify=verify_with(ca))
    stopped_again = sandbox("stop")
    assert (stopped_again.returncode, stopped_again.stdout.strip()) == (0, "fx_api is not running")
    status = sandbox("status")
    assert (status.returncode, status.stdout.strip()) == (3, "fx_api is not running")


def test_cli_start_refuses_a_port_held_by_another_process(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**os.environ, "SANDBOX_HOME": str(tmp_path), "SANDBOX_FX_PORT": str(port)}
        command = [sys.executable, "-m", "sandbox", "start"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"error: port {port} on 127.0.0.1 is in use by another process; set SANDBOX_FX_PORT or --port"
    )
    assert not (tmp_path / "fx.pid").exists()
