"""Data quality: rule evaluation (``evaluate``), the publish gate (``gate``), check results (``checks``),
and the schema conformance guard (``schema``)."""
