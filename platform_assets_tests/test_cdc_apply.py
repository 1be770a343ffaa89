"""Change apply against a reference model, through real Delta tables on the embedded engine.

Random per-key histories of inserts, updates and deletes (with re-inserts after deletes), delivered
with duplicates, shuffled and split into batches, must converge to the model's final state (SCD1) and
its full history (SCD2). Hypothesis runs derandomized so CI sees the same examples every time.
"""

import json
import re
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
    value_columns=("v", "w"),
    apply_as_deletes="Op = 'D'",
)
# as AUTO CDC's track_history_column_list: only v opens versions, w is updated in place
TRACK_V = ChangeSpec(
    "silver/test_tracked",
    keys=("k",),
    sequence_by=("ts", "tb"),
    value_columns=("v", "w"),
    apply_as_deletes="Op = 'D'",
    track_history=("v",),
)
SCHEMA = "k long, v long, w long, ts long, tb long, Op string"
Event = tuple[int, int, int, int, int, str]  # k, v, w, ts, tb, Op
HISTORY = ["k", "v", "w", "ts", "tb", "_is_deleted", "valid_from", "valid_to", "is_current"]


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
        k, _, _, ts, tb, _ = event
        if k not in latest or (ts, tb) > latest[k][3:5]:
            latest[k] = event
    return sorted((k, v, w, ts, tb, op == "D") for k, v, w, ts, tb, op in latest.values())


# a change as the SCD2 model sees it: k, v, w, ts, tb (None: unknown, loses a tie), deleted
Change = tuple[int, int, int, int, int | None, bool]


def _derive(changes: list[Change], tracked: tuple[str, ...]) -> list[tuple]:
    """AUTO CDC SCD2 over one key set: last change per commit; a version opens on the first change,
    after a delete, at a delete, or when a tracked column changes; otherwise the change is absorbed."""
    position = {"v": 1, "w": 2}
    per_commit: dict[tuple[int, int], Change] = {}
    for change in changes:
        k, _, _, ts, tb, deleted = change
        rank = (tb is not None, tb if tb is not None else 0, deleted)
        held = per_commit.get((k, ts))
        if held is None or rank > (held[4] is not None, held[4] if held[4] is not None else 0, held[5]):
            per_commit[(k, ts)] = change
    rows: list[tuple] = []
    for key in sorted({k for k, _ in per_commit}):
        ordered = sorted((c for (k, _), c in per_commit.items() if k == key), key=lambda c: c[3])
        groups: list[list[Change]] = []
        for change in ordered:
            before = groups[-1][-1] if groups else None
            opens = (
                before is None
                or change[5] != before[5]
                or (not change[5] and any(change[position[c]] != before[position[c]] for c in tracked))
            )
            if opens:
                groups.append([change])
            else:
                groups[-1].append(change)
        starts = [group[0][3] for group in groups]
        for index, group in enumerate(groups):
            k, v, w, ts, tb, deleted = group[-1]
            valid_to = starts[index] if deleted else (starts[index + 1] if index + 1 < len(groups) else None)
            rows.append((k, v, w, ts, tb, deleted, starts[index], valid_to, valid_to is None))
    return rows


def model_scd2(batches: list[list[Event]], tracked: tuple[str, ...] = ("v", "w")) -> list[tuple]:
    """The table after applying ``batches`` in turn: each re-derives the touched keys from their stored
    versions (a version that absorbed changes also at its opening, tiebreaker unknown) and the batch."""
    table: list[tuple] = []
    for batch in batches:
        touched = {e[0] for e in batch}
        stored = [r for r in table if r[0] in touched]
        changes: list[Change] = [(k, v, w, ts, tb, op == "D") for k, v, w, ts, tb, op in batch]
        for k, v, w, ts, tb, deleted, valid_from, _, _ in stored:
            changes.append((k, v, w, ts, tb, deleted))
            if valid_from != ts:
                changes.append((k, v, w, valid_from, None, deleted))
        kept = [r for r in table if r[0] not in touched]
        table = sorted(kept + _derive(changes, tracked), key=lambda r: (r[0], r[6]))
    return table


def _scd1_rows(uri: str) -> list[tuple]:
    columns = ["k", "v", "w", "ts", "tb", "_is_deleted"]
    return sorted(tuple(r[c] for c in columns) for r in read_table(uri, columns=columns).to_pylist())


def _scd2_rows(uri: str) -> list[tuple]:
    rows = read_table(uri, columns=HISTORY, order_by=["k", "valid_from"]).to_pylist()
    return [tuple(r[c] for c in HISTORY) for r in rows]


def _assert_history_invariants(rows: list[tuple]) -> None:
    """What readers rely on: ``valid_to IS NULL`` is exactly the live current version of a live key,
    a deleted key has no open row, and a key's live versions follow each other without gaps."""
    for key in {r[0] for r in rows}:
        versions = [r for r in rows if r[0] == key]
        open_rows = [r for r in versions if r[7] is None]
        assert len(open_rows) == (0 if versions[-1][5] else 1), versions
        assert all(not r[5] and r[8] for r in open_rows) and not any(
            r[8] for r in versions if r[7] is not None
        )
        for before, after in pairwise(versions):
            assert before[7] == (before[6] if before[5] else after[6]), versions


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[list[Event]], list[int]]:
    """A true change history, the batches it is delivered in (duplicated, shuffled, split) and the cuts.

    Values are drawn from a few, so updates that change nothing, or only the untracked ``w``, are common.
    """
    events: list[Event] = []
    for key in range(1, draw(st.integers(1, 4)) + 1):
        sequences = draw(st.sets(st.tuples(st.integers(1, 6), st.integers(0, 2)), min_size=1, max_size=5))
        for ts, tb in sorted(sequences):
            op = draw(st.sampled_from(["I", "U", "D"]))
            events.append((key, draw(st.integers(0, 2)), draw(st.integers(0, 3)), ts, tb, op))
    resent = draw(st.lists(st.sampled_from(events), max_size=3))
    delivered = draw(st.permutations(events + resent))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(delivered) - 1)), max_size=3)))
    return events, _split(delivered, cuts), cuts


def _split(delivered: list[Event], cuts: list[int]) -> list[list[Event]]:
    bounds = [0, *cuts, len(delivered)]
    return [delivered[a:b] for a, b in pairwise(bounds) if delivered[a:b]]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_apply_matches_the_reference_model(spark, workdir: Path, delivery) -> None:
    events, batches, cuts = delivery
    run = workdir / f"run-{len(list(workdir.iterdir()))}"
    uris = {name: str(run / name) for name in ("current", "history", "tracked")}
    for attempt in (batches, batches[-1:]):  # then the last batch delivered again changes nothing
        for batch in attempt:
            frame = spark.createDataFrame(batch, SCHEMA)
            apply_scd1(frame, uris["current"], SPEC)
            apply_scd2(frame, uris["history"], SPEC)
            apply_scd2(frame, uris["tracked"], TRACK_V)
        assert _scd1_rows(uris["current"]) == model_scd1(events)
        assert _scd2_rows(uris["history"]) == model_scd2(batches)
        assert _scd2_rows(uris["tracked"]) == model_scd2(batches, ("v",))
    for uri in (uris["history"], uris["tracked"]):
        _assert_history_invariants(_scd2_rows(uri))
    # the model is the true history whenever nothing arrives late: delivered in order, in any batches
    in_order = sorted(events, key=lambda e: (e[3], e[4]))
    truth = _derive([(k, v, w, ts, tb, op == "D") for k, v, w, ts, tb, op in events], ("v", "w"))
    assert model_scd2(_split(in_order, cuts)) == model_scd2([events]) == truth


def test_named_cases(spark, workdir: Path) -> None:
    """The cases the property covers, spelled out: late update, delete then re-insert, same commit."""
    uri1, uri2 = str(workdir / "current"), str(workdir / "history")
    batches: list[list[Event]] = [
        [(1, 10, 0, 1, 0, "I"), (2, 20, 0, 1, 0, "I")],
        [(1, 11, 0, 5, 0, "U"), (2, 0, 0, 5, 0, "D")],
        [(1, 99, 0, 3, 0, "U"), (2, 21, 0, 4, 0, "U")],  # late: older than what is applied
        [(2, 22, 0, 7, 0, "I"), (1, 12, 0, 8, 0, "U"), (1, 13, 0, 8, 1, "U")],  # re-insert; one commit
    ]
    for batch in batches:
        frame = spark.createDataFrame(batch, SCHEMA)
        apply_scd1(frame, uri1, SPEC)
        apply_scd2(frame, uri2, SPEC)
    assert _scd1_rows(uri1) == [(1, 13, 0, 8, 1, False), (2, 22, 0, 7, 0, False)]
    assert _scd2_rows(uri2) == [
        (1, 10, 0, 1, 0, False, 1, 3, False),
        (1, 99, 0, 3, 0, False, 3, 5, False),  # the late update is placed in history, not applied as current
        (1, 11, 0, 5, 0, False, 5, 8, False),
        (1, 13, 0, 8, 1, False, 8, None, True),
        (2, 20, 0, 1, 0, False, 1, 4, False),
        (2, 21, 0, 4, 0, False, 4, 5, False),  # the last live version is closed at the delete's time
        (2, 0, 0, 5, 0, True, 5, 5, False),  # the delete: a tombstone, closed where it opens
        (2, 22, 0, 7, 0, False, 7, None, True),
    ]


def test_a_deleted_key_has_no_open_version(spark, workdir: Path) -> None:
    """``WHERE valid_to IS NULL`` is the current state: a deleted customer is not in it."""
    uri = str(workdir / "history")
    apply_scd2(spark.createDataFrame([(1, 10, 0, 1, 0, "I"), (2, 20, 0, 1, 0, "I")], SCHEMA), uri, SPEC)
    apply_scd2(spark.createDataFrame([(2, 20, 0, 4, 0, "D"), (2, 20, 0, 6, 0, "D")], SCHEMA), uri, SPEC)
    open_rows = read_table(uri, where="valid_to IS NULL", columns=["k"]).to_pylist()
    assert open_rows == [{"k": 1}]
    assert _scd2_rows(uri)[1:] == [
        (2, 20, 0, 1, 0, False, 1, 4, False),
        (2, 20, 0, 6, 0, True, 4, 4, False),  # a second delete of a deleted key is absorbed
    ]
    # a late update behind the delete lands in its place; the key stays deleted
    apply_scd2(spark.createDataFrame([(2, 21, 0, 3, 0, "U")], SCHEMA), uri, SPEC)
    assert [r[6:8] for r in _scd2_rows(uri) if r[0] == 2] == [(1, 3), (3, 4), (4, 4)]


def test_an_update_that_changes_no_tracked_column_opens_no_version(spark, workdir: Path) -> None:
    """As AUTO CDC: by default every value column is tracked, so only a real change opens a version;
    with ``track_history`` = (v,), a change of w alone updates the current version in place."""
    every, only_v = str(workdir / "every"), str(workdir / "only_v")
    batches = [
        [(1, 10, 0, 1, 0, "I")],
        [(1, 10, 0, 2, 0, "U")],  # changes nothing
        [(1, 10, 5, 3, 0, "U")],  # changes the untracked w only
        [(1, 11, 5, 4, 0, "U")],  # changes v
    ]
    for batch in batches:
        frame = spark.createDataFrame(batch, SCHEMA)
        apply_scd2(frame, every, SPEC)
        apply_scd2(frame, only_v, TRACK_V)
    assert _scd2_rows(every) == [
        (1, 10, 0, 2, 0, False, 1, 3, False),  # the no-op update at 2 was absorbed
        (1, 10, 5, 3, 0, False, 3, 4, False),
        (1, 11, 5, 4, 0, False, 4, None, True),
    ]
    assert _scd2_rows(only_v) == [
        (1, 10, 5, 3, 0, False, 1, 4, False),  # w and the sequence updated in place; valid_from kept
        (1, 11, 5, 4, 0, False, 4, None, True),
    ]
    # a late change of v inside the absorbed version splits it where it happened
    apply_scd2(spark.createDataFrame([(1, 12, 0, 2, 0, "U")], SCHEMA), only_v, TRACK_V)
    assert [(r[1], r[6], r[7]) for r in _scd2_rows(only_v)] == [
        (10, 1, 2),
        (12, 2, 3),
        (10, 3, 4),
        (11, 4, None),
    ]


def test_a_feed_without_the_spec_columns_is_refused(spark, workdir: Path) -> None:
    frame = spark.createDataFrame([(1, 2, 3)], "k long, v long, w long")
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
    assert spec.tracked_columns == ("email",)  # AUTO CDC's default: every value column


def test_the_tracked_columns_come_from_the_contract() -> None:
    from platform_assets.contracts import load_contracts

    contracts = load_contracts()
    history = contracts["silver/customers_history"]
    assert ChangeSpec.from_contract(history).tracked_columns == tuple(history.value_columns)
    for cdc, tracked in [
        ({"track_history_column_list": ["email", "phone"]}, ("email", "phone")),
        (
            {"track_history_except_column_list": ["updated_at"]},
            ("name", "email", "phone", "address", "country"),
        ),
    ]:
        changed = history.model_copy(update={"cdc": history.cdc.model_copy(update=cdc)})
        assert ChangeSpec.from_contract(changed).tracked_columns == tracked


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


def _last_commit(uri: str) -> tuple[dict, list[dict]]:
    """The newest commit's metrics and its remove actions, from the table's log on disk."""
    log = sorted((Path(uri) / "_delta_log").glob("*.json"))[-1]
    actions = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    return info.get("operationMetrics", {}), [a["remove"] for a in actions if "remove" in a]


@pytest.mark.parametrize("apply", [apply_scd1, apply_scd2], ids=["scd1", "scd2"])
def test_a_partitioned_merge_scans_and_rewrites_only_its_partition(
    spark, workdir: Path, apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An apply given one partition runs a MERGE whose plan scans only that partition's files (the
    partition predicate in its ON clause prunes the target; without it all three are scanned) and
    whose commit removes (rewrites) only files of that partition."""
    spec = ChangeSpec(
        "silver/test_dated", keys=("k",), sequence_by=("ts",), value_columns=("v", "d"), partition_by="d"
    )
    schema = "k long, v long, d date, ts long"
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    uri = str(workdir / "dated")
    apply(spark.createDataFrame([(k, k, days[k % 3], 1) for k in range(30)], schema), uri, spec, None, days)
    plans: list[str] = []
    run_sql = spark.sql

    def explained(query: str, *args, **kwargs):  # the real statement runs; its plan is kept too
        if query.startswith("MERGE INTO"):
            plans.append(str(run_sql(f"EXPLAIN {query}").collect()[0][0]))
        return run_sql(query, *args, **kwargs)

    monkeypatch.setattr(spark, "sql", explained)
    apply(spark.createDataFrame([(3, 300, days[0], 2)], schema), uri, spec, None, [days[0]])
    monkeypatch.undo()
    assert len(plans) == 1
    scanned = set(re.findall(r"dated/d=(\d{4}-\d{2}-\d{2})/part-", plans[0]))
    assert scanned == {"2026-11-01"}
    metrics, removed = _last_commit(uri)
    assert removed and {r["partitionValues"]["d"] for r in removed} == {"2026-11-01"}
    assert metrics["numTargetFilesRemoved"] == len(removed)
