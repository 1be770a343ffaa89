#!/usr/bin/env bash
# Fetch the Delta Lake jars that local Apache Spark (PLATFORM_ENGINE=local) loads via spark.jars.
#
# Into <repo>/.cache/jars (or $PLATFORM_DELTA_JARS_DIR), from Maven Central, with Maven, once:
# a second run with every jar present does nothing. The session never downloads at run time.
#
# The list is delta-spark's compile/runtime dependency tree minus what PySpark 4.2's own jars
# (pyspark/jars) already provide: scala-library, jackson, log4j, slf4j, hadoop-client, parquet,
# RoaringBitmap, snappy, zstd, ... come from Spark. What Spark lacks is Delta itself, the Delta
# kernel it calls into (shaded jackson inside) and the Unity Catalog client delta-storage links.
# Left out on purpose: the AWS/GCS/Azure classes the S3/DynamoDB log stores need (provided scope).
#
# Version: 4.4.0, the latest Delta release on Maven Central, built against Spark 4.2.0 (the PySpark we
# pin). The delta-spark Python package is not needed: only these jars are loaded.
# delta-spark_4.2_2.13 is the Spark-4.2 name of the same jar as delta-spark_2.13 (same sha1).
#
# Second set, into <jars dir>/cluster (or $PLATFORM_CLUSTER_JARS_DIR), for the Spark Connect server of the
# standalone cluster (sandbox/services/spark_cluster.py) and for bronze on the engine: hadoop-aws 3.5.0
# (the s3a filesystem, matching PySpark 4.2's Hadoop 3.5.0 client) with the AWS SDK v2 bundle it was
# built against (2.35.4, ~690 MB) and the analytics accelerator it links, and Spark's Kafka source
# (spark-sql-kafka-0-10 4.2.0, its token provider, kafka-clients 3.9.2 and commons-pool2). Kept out of
# the Delta folder so local Spark does not put 700 MB of SDK on its class path for nothing.
set -euo pipefail

DELTA_VERSION="${DELTA_VERSION:-4.4.0}"
UC_VERSION="${UC_VERSION:-0.6.0}"
ARTIFACTS=(
  "io.delta:delta-spark_4.2_2.13:${DELTA_VERSION}"
  "io.delta:delta-storage:${DELTA_VERSION}"
  "io.delta:delta-kernel-api:${DELTA_VERSION}"
  "io.delta:delta-kernel-defaults:${DELTA_VERSION}"
  "io.delta:delta-kernel-unitycatalog:${DELTA_VERSION}"
  "io.unitycatalog:unitycatalog-client:${UC_VERSION}"
  "io.unitycatalog:unitycatalog-hadoop:${UC_VERSION}"
)
HADOOP_VERSION="${HADOOP_VERSION:-3.5.0}"
SPARK_VERSION="${SPARK_VERSION:-4.2.0}"
CLUSTER_ARTIFACTS=(
  "org.apache.hadoop:hadoop-aws:${HADOOP_VERSION}"
  "software.amazon.awssdk:bundle:2.35.4"
  "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1"
  "org.apache.spark:spark-sql-kafka-0-10_2.13:${SPARK_VERSION}"
  "org.apache.spark:spark-token-provider-kafka-0-10_2.13:${SPARK_VERSION}"
  "org.apache.kafka:kafka-clients:3.9.2"
  "org.apache.commons:commons-pool2:2.13.1"
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
delta_dir="${PLATFORM_DELTA_JARS_DIR:-${repo_root}/.cache/jars}"
cluster_dir="${PLATFORM_CLUSTER_JARS_DIR:-${delta_dir}/cluster}"

jar_name() {  # group:artifact:version -> artifact-version.jar
  local artifact version
  artifact="$(cut -d: -f2 <<<"$1")"
  version="$(cut -d: -f3 <<<"$1")"
  echo "${artifact}-${version}.jar"
}

fetch() {  # fetch DIR LABEL PRUNE_GLOBS coordinate...: download what is missing, prune other versions
local jars_dir="$1" label="$2" prune="$3"
shift 3
local ARTIFACTS=("$@")
mkdir -p "${jars_dir}"
local missing=() coordinate work output expected jar name
for coordinate in "${ARTIFACTS[@]}"; do
  [[ -s "${jars_dir}/$(jar_name "${coordinate}")" ]] || missing+=("${coordinate}")
done

if ((${#missing[@]})); then
  command -v mvn >/dev/null || { echo "fetch_spark_jars: mvn (Maven) is not installed" >&2; exit 1; }
  echo "fetch_spark_jars: downloading ${#missing[@]} jar(s) into ${jars_dir}"
  work="$(mktemp -d)"
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>local</groupId><artifactId>fetch-spark-jars</artifactId><version>1</version>'
    echo '<dependencies>'
    for coordinate in "${missing[@]}"; do
      IFS=: read -r group artifact version <<<"${coordinate}"
      echo "<dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId>"
      echo "<version>${version}</version></dependency>"
    done
    echo '</dependencies></project>'
  } >"${work}/pom.xml"
  # exactly these artifacts (no transitive ones: Spark ships those), written to the jars folder;
  # Maven's output is shown only when it fails (with -q it still prints colour codes)
  if ! output="$(mvn -q -B -f "${work}/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DexcludeTransitive=true -DincludeScope=runtime -DoutputDirectory="${jars_dir}" 2>&1)"; then
    echo "${output}" >&2
    echo "fetch_spark_jars: Maven could not fetch ${missing[*]}" >&2
    rm -rf "${work}"
    exit 1
  fi
  rm -rf "${work}"
fi

# spark.jars takes every *.jar in the folder: other Delta / Unity Catalog versions would clash
expected=" "
for coordinate in "${ARTIFACTS[@]}"; do expected+="$(jar_name "${coordinate}") "; done
for jar in ${prune}; do
  [[ -e "${jar}" ]] || continue
  name="$(basename "${jar}")"
  if [[ "${expected}" != *" ${name} "* ]]; then
    echo "fetch_spark_jars: removing ${name} (another version)"
    rm -f "${jar}"
  fi
done

for coordinate in "${ARTIFACTS[@]}"; do
  [[ -s "${jars_dir}/$(jar_name "${coordinate}")" ]] || {
    echo "fetch_spark_jars: ${coordinate} is missing after the download" >&2
    exit 1
  }
done
echo "fetch_spark_jars: ${#ARTIFACTS[@]} ${label} jars ready in ${jars_dir}"
}

fetch "${delta_dir}" Delta "${delta_dir}/delta-*.jar ${delta_dir}/unitycatalog-*.jar" "${ARTIFACTS[@]}"
fetch "${cluster_dir}" "S3A and Kafka-source" "${cluster_dir}/*.jar" "${CLUSTER_ARTIFACTS[@]}"
