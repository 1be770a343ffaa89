"""Count how many executed Spark Connect plans read a table (the benchmark's ``scans``, the tests' proof).

Every action (a collect, a count, a write, a temporary view a MERGE then runs) sends its whole plan
to the engine; a Delta read appears in it as the table's path. Counting the executed plans that name
a path counts the times the engine had to read that table, which is what staging is meant to bring
down to one. Only Spark Connect sessions (Sail, Spark Connect) are seen; a classic local Spark
session runs plans in the JVM and is not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark.sql.connect.client.core import SparkConnectClient


@contextmanager
def count_scans(uris: Sequence[str]) -> Iterator[Counter[str]]:
    """Within the block, ``counter[uri]`` is the number of reads of ``uri`` in executed plans."""
    counter: Counter[str] = Counter({uri: 0 for uri in uris})
    original = SparkConnectClient._execute_and_fetch_as_iterator

    def counting(self: SparkConnectClient, req: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(req.plan)
        for uri in uris:
            counter[uri] += text.count(f'paths: "{uri}"')  # a read, not a write's path
        return original(self, req, *args, **kwargs)

    SparkConnectClient._execute_and_fetch_as_iterator = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        SparkConnectClient._execute_and_fetch_as_iterator = original  # type: ignore[method-assign]
