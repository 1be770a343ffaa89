"""SQL access to the lake: `platform sql` (one query, printed) and `platform serve` (a Spark Connect endpoint)."""
