import os
from collections.abc import Iterator

import pytest

from sandbox.generator.fx import generate_fx
from sandbox.services.fx_api import FxApiServer

os.environ.setdefault("RUST_LOG", "error")  # Sail servers started by tests log every session otherwise


@pytest.fixture
def fx_server() -> Iterator[FxApiServer]:
    """The sandbox FX service (default dataset, token 'test-token') on a free loopback port."""
    with FxApiServer(generate_fx(), token="test-token") as server:
        yield server
