"""The medallion layers: assets generated from contracts (``specs``), with per-table transforms in
``bronze``, ``silver`` and ``gold``."""
