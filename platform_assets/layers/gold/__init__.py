"""Gold: the star schema (dimensions, facts) and aggregates; one model module per table."""
