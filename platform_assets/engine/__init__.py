"""The compute engine: a Spark session chosen by configuration, and Delta I/O through it.

Silver and gold transforms are pure functions over PySpark DataFrames; they never know whether
Sail (in-process, the default), a Spark Connect server or a local Apache Spark runs them.
"""

from platform_assets.engine.spark_resource import SparkEngine

__all__ = ["SparkEngine"]
