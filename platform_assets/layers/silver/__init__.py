"""Silver: typed, de-duplicated, change-applied tables; one transform module per table."""
