"""Change apply against a reference model, through real Delta tables on the embedded engine.

Random per-key histories of inserts, updates and deletes (with re-inserts after deletes), delivered
with duplicates, shuffled and split into batches, must converge to the model's final state (SCD1) and
its full history (SCD2). Hypothesis runs derandomized so CI sees the same examples every time.
"""

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_assets.cdc import ChangeSpec, apply_scd1, apply_scd2
from platform_assets.engine import SparkEngine
from platform_assets.lake.delta_tables import open_table, read_table

SPEC = ChangeSpec(
    "silver/test_entities",
    keys=("k",),
    sequence_by=("ts", "tb"),
    value_columns=("v",),
    apply_as_deletes="Op = 'D'",
)
SCHEMA = "k long, v long, ts long, tb long, Op string"
Event = tuple[int, int, int, int, str]  # k, v, ts, tb, Op


@pytest.fixture(scope="module")
def spark():
    return SparkEngine().get_session()


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="cdc-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def model_scd1(events: list[Event]) -> list[tuple]:
    latest: dict[int, Event] = {}
    for event in events:
        k, _, ts, tb, _ = event
        if k not in latest or (ts, tb) > latest[k][2:4]:
            latest[k] = event
    return sorted((k, v, ts, tb, op == "D") for k, v, ts, tb, op in latest.values())


def model_scd2(events: list[Event]) -> list[tuple]:
    per_commit: dict[tuple[int, int], Event] = {}
    for event in events:
        k, _, ts, tb, _ = event
        if (k, ts) not in per_commit or tb > per_commit[(k, ts)][3]:
            per_commit[(k, ts)] = event
    rows = []
    for key in sorted({k for k, _ in per_commit}):
        versions = sorted((e for (k, _), e in per_commit.items() if k == key), key=lambda e: e[2])
        for index, (k, v, ts, tb, op) in enumerate(versions):
            valid_to = versions[index + 1][2] if index + 1 < len(versions) else None
            deleted = op == "D"
            rows.append((k, v, ts, tb, deleted, ts, valid_to, valid_to is None and not deleted))
    return rows


def _scd1_rows(uri: str) -> list[tuple]:
    columns = ["k", "v", "ts", "tb", "_is_deleted"]
    return sorted(tuple(r[c] for c in columns) for r in read_table(uri, columns=columns).to_pylist())


def _scd2_rows(uri: str) -> list[tuple]:
    columns = ["k", "v", "ts", "tb", "_is_deleted", "valid_from", "valid_to", "is_current"]
    rows = read_table(uri, columns=columns, order_by=["k", "valid_from"]).to_pylist()
    return [tuple(r[c] for c in columns) for r in rows]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[list[Event]]]:
    """A true change history and the batches it is delivered in (duplicated, shuffled, split)."""
    events: list[Event] = []
    for key in range(1, draw(st.integers(1, 4)) + 1):
        sequences = draw(st.sets(st.tuples(st.integers(1, 6), st.integers(0, 2)), min_size=1, max_size=5))
        for ts, tb in sorted(sequences):
            op = draw(st.sampled_from(["I", "U", "D"]))
            events.append((key, draw(st.integers(0, 99)), ts, tb, op))
    resent = draw(st.lists(st.sampled_from(events), max_size=3))
    delivered = draw(st.permutations(events + resent))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(delivered) - 1)), max_size=3)))
    bounds = [0, *cuts, len(delivered)]
    batches = [delivered[a:b] for a, b in pairwise(bounds) if delivered[a:b]]
    return events, batches


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_apply_matches_the_reference_model(spark, workdir: Path, delivery) -> None:
    events, batches = delivery
    run = workdir / f"run-{len(list(workdir.iterdir()))}"
    scd1_uri, scd2_uri = str(run / "current"), str(run / "history")
    for batch in batches:
        frame = spark.createDataFrame(batch, SCHEMA)
        apply_scd1(frame, scd1_uri, SPEC)
        apply_scd2(frame, scd2_uri, SPEC)
    assert _scd1_rows(scd1_uri) == model_scd1(events)
    assert _scd2_rows(scd2_uri) == model_scd2(events)
    # the last batch delivered again changes nothing
    again = spark.createDataFrame(batches[-1], SCHEMA)
    apply_scd1(again, scd1_uri, SPEC)
    apply_scd2(again, scd2_uri, SPEC)
    assert _scd1_rows(scd1_uri) == model_scd1(events)
    assert _scd2_rows(scd2_uri) == model_scd2(events)


def test_named_cases(spark, workdir: Path) -> None:
    """The cases the property covers, spelled out: late update, delete then re-insert, same commit."""
    uri1, uri2 = str(workdir / "current"), str(workdir / "history")
    batches: list[list[Event]] = [
        [(1, 10, 1, 0, "I"), (2, 20, 1, 0, "I")],
        [(1, 11, 5, 0, "U"), (2, 0, 5, 0, "D")],
        [(1, 99, 3, 0, "U"), (2, 21, 4, 0, "U")],  # late: older than what is applied
        [(2, 22, 7, 0, "I"), (1, 12, 8, 0, "U"), (1, 13, 8, 1, "U")],  # re-insert; two changes in one commit
    ]
    for batch in batches:
        frame = spark.createDataFrame(batch, SCHEMA)
        apply_scd1(frame, uri1, SPEC)
        apply_scd2(frame, uri2, SPEC)
    assert _scd1_rows(uri1) == [(1, 13, 8, 1, False), (2, 22, 7, 0, False)]
    assert _scd2_rows(uri2) == [
        (1, 10, 1, 0, False, 1, 3, False),
        (1, 99, 3, 0, False, 3, 5, False),  # the late update is placed in history, not applied as current
        (1, 11, 5, 0, False, 5, 8, False),
        (1, 13, 8, 1, False, 8, None, True),
        (2, 20, 1, 0, False, 1, 4, False),
        (2, 21, 4, 0, False, 4, 5, False),
        (2, 0, 5, 0, True, 5, 7, False),  # the delete is a tombstone version, never current
        (2, 22, 7, 0, False, 7, None, True),
    ]


def test_a_feed_without_the_spec_columns_is_refused(spark, workdir: Path) -> None:
    frame = spark.createDataFrame([(1, 2)], "k long, v long")
    with pytest.raises(
        ValueError, match=r"silver/test_entities: the change feed lacks column\(s\) \['ts', 'tb'\]"
    ):
        apply_scd1(frame, str(workdir / "t"), SPEC)


def test_the_spec_comes_from_the_contract() -> None:
    from platform_assets.contracts.model import Contract

    contract = Contract.model_validate(
        {
            "dataset": "silver/customers_history",
            "description": "customers, every version",
            "owners": ["team:data-platform"],
            "domain": "sales",
            "schema": [
                {"name": n, "type": t, "description": n}
                for n, t in [
                    ("customer_id", "long"),
                    ("email", "string"),
                    ("_commit_ts", "timestamp"),
                    ("_change_seq", "long"),
                    ("_is_deleted", "boolean"),
                    ("valid_from", "timestamp"),
                    ("valid_to", "timestamp"),
                    ("is_current", "boolean"),
                ]
            ],
            "keys": ["customer_id"],
            "sequence_by": ["_commit_ts", "_change_seq"],
            "retention": {"days": 30},
            "cdc": {"mode": "scd2", "apply_as_deletes": "Op = 'D'"},
        }
    )
    spec = ChangeSpec.from_contract(contract)
    assert spec.keys == ("customer_id",) and spec.sequence_by == ("_commit_ts", "_change_seq")
    assert spec.value_columns == ("email",) and spec.apply_as_deletes == "Op = 'D'"


@pytest.mark.parametrize("apply", [apply_scd1, apply_scd2], ids=["scd1", "scd2"])
def test_a_partitioned_apply_rewrites_only_the_partitions_it_is_given(spark, workdir: Path, apply) -> None:
    """The target is partitioned by a value that never changes per key (an order's date); an apply given
    its partitions merges only them, and the other partitions' files stay exactly as they were."""
    spec = ChangeSpec(
        "silver/test_dated", keys=("k",), sequence_by=("ts",), value_columns=("v", "d"), partition_by="d"
    )
    schema = "k long, v long, d date, ts long"
    first, second = date(2026, 11, 1), date(2026, 11, 2)
    uri = str(workdir / "dated")
    apply(
        spark.createDataFrame([(1, 10, first, 1), (2, 20, second, 1)], schema),
        uri,
        spec,
        None,
        [first, second],
    )
    table = open_table(uri)
    assert table is not None and table.metadata().partition_columns == ["d"]

    def files_of(day: date) -> set[str]:
        actions = pa.table(open_table(uri).get_add_actions(flatten=True)).to_pylist()  # type: ignore[union-attr]
        return {a["path"] for a in actions if a["partition.d"] == day}

    untouched = files_of(second)
    apply(spark.createDataFrame([(1, 11, first, 2), (1, 9, first, 0)], schema), uri, spec, None, [first])
    assert files_of(second) == untouched
    current = "_is_deleted = false" + (" AND is_current" if apply is apply_scd2 else "")
    rows = read_table(uri, where=current, columns=["k", "v", "d"], order_by=["k"]).to_pylist()
    assert rows == [{"k": 1, "v": 11, "d": first}, {"k": 2, "v": 20, "d": second}]
