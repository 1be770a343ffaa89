"""Change apply with AUTO-CDC semantics: one mechanism, configured by a ChangeSpec (from the contract).

- ``spec``: what a change feed looks like (keys, sequence, which changes are deletes).
- ``scd1``: current state per key; tombstones keep late, older changes from resurrecting a delete.
- ``scd2``: full history per key (valid_from, valid_to, is_current), rebuilt for the keys a batch touches.
"""

from platform_assets.cdc.scd1 import apply_scd1, winning_changes
from platform_assets.cdc.scd2 import apply_scd2
from platform_assets.cdc.spec import ChangeSpec

__all__ = ["ChangeSpec", "apply_scd1", "apply_scd2", "winning_changes"]
