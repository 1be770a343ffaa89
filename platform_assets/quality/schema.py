"""Make a DataFrame match its contract's schema, or stop with the column and the contract named.

Additive drift (a column the contract does not know) is dropped here for silver/gold outputs, which
publish exactly their contract; a missing column or a type that cannot be the contract's type stops
the asset.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from platform_assets.contracts.model import Contract


class SchemaViolation(ValueError):
    """The data does not fit the contract; names the dataset and the column."""


_SPARK_TYPES: dict[str, type[T.DataType]] = {
    "string": T.StringType,
    "int": T.IntegerType,
    "long": T.LongType,
    "double": T.DoubleType,
    "boolean": T.BooleanType,
    "date": T.DateType,
    "timestamp": T.TimestampType,
}


def spark_type(type_name: str) -> T.DataType:
    if type_name.startswith("decimal"):
        precision, scale = type_name[len("decimal(") : -1].split(",")
        return T.DecimalType(int(precision), int(scale))
    return _SPARK_TYPES[type_name]()


def _compatible(actual: T.DataType, expected: T.DataType) -> bool:
    if isinstance(expected, T.TimestampType):
        return isinstance(actual, T.TimestampType | T.TimestampNTZType)
    return type(actual) is type(expected) and actual == expected


def conform(df: DataFrame, contract: Contract, keep: Sequence[str] = ()) -> DataFrame:
    """The contract's columns, in its order, with its types (then ``keep``, for the checks only);
    raises SchemaViolation otherwise."""
    return conform_with_schema(df, contract, keep)[0]


def conform_with_schema(
    df: DataFrame, contract: Contract, keep: Sequence[str] = ()
) -> tuple[DataFrame, T.StructType]:
    """``conform`` and the schema of its result, known without asking the engine again."""
    fields = {f.name: f.dataType for f in df.schema.fields}
    missing = [c.name for c in contract.columns if c.name not in fields]
    if missing:
        raise SchemaViolation(
            f"{contract.dataset}: the output lacks column(s) {missing} that the contract requires"
        )
    for column in contract.columns:
        expected = spark_type(column.type)
        if not _compatible(fields[column.name], expected):
            raise SchemaViolation(
                f"{contract.dataset}: column '{column.name}' is {fields[column.name].simpleString()} "
                f"but the contract says {column.type}"
            )
    by_name = {f.name: f for f in df.schema.fields}
    schema = T.StructType([by_name[name] for name in [*contract.column_names, *keep]])
    return df.select(*contract.column_names, *keep), schema
