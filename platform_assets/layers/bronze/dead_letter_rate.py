"""The dead-letter rate of a bronze batch as a check: a mostly-broken batch is not a quiet success.

A batch whose records mostly go to the DLQ (a type change that spares a few records is not caught
as a breaking change) used to succeed with every check green. A contract sets the share it tolerates
with the rule ``expect_dead_letter_rate_to_be_at_most: <fraction>`` (a warning, as every bronze rule);
the incremental bronze asset fills the rule's outcome from the batch it just wrote: evaluated = the
records received, failed = the dead letters. A failed check is raised by the alerts sensor
(``sensors/alerts.py``) like any other.
"""

from __future__ import annotations

from platform_assets.contracts.rules import DEAD_LETTER_EXPECTATION
from platform_assets.quality.evaluate import QualityReport


def record_dead_letter_rate(report: QualityReport, received: int, dead: int, partition: str) -> None:
    """Fill the dead-letter-rate outcomes of ``report`` (in place) from one batch's counts."""
    for outcome in report.outcomes:
        if outcome.rule.expectation != DEAD_LETTER_EXPECTATION:
            continue
        outcome.evaluated, outcome.failed = received, dead
        outcome.failed_by_partition = {partition: dead} if dead else {}
        outcome.evaluated_by_partition = {partition: received}  # records, for results and checks
        limit = float(outcome.rule.args["max_value"])
        if received and dead / received > limit:
            outcome.failed_partitions = [partition]
            outcome.message = (
                f"{dead} of {received} record(s) went to the dead-letter table "
                f"({100.0 * dead / received:.1f}%, more than {100.0 * limit:g}%)"
            )
