"""The platform's view of its own data quality: results history, score, coverage, reports, health."""
