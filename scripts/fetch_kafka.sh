#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars the sandbox runs in KRaft mode (sandbox/services/kafka_broker.py).
#
# Into <repo>/.cache/kafka/libs (or $SANDBOX_KAFKA_LIBS_DIR), from Maven Central, with Maven, once:
# org.apache.kafka:kafka_2.13 plus its runtime dependency tree (the broker, KRaft controller, storage
# tool, clients, Scala library, log4j2). Kafka's poms route logging through slf4j 1.7 and leave the
# binding to the distribution, so the log4j2 binding for slf4j 1.x is added here (same log4j version as
# Kafka's log4j-core); without it the broker logs nothing. A marker file records the version; a second run
# with the marker present does nothing. The broker never downloads at run time.
#
# Version: 4.4.0, the newest Kafka release on Maven Central (Nov 2026). Kafka 4.x is KRaft-only, which is
# what the sandbox wants (no ZooKeeper).
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
SCALA_VERSION="2.13"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.5}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
libs_dir="${SANDBOX_KAFKA_LIBS_DIR:-${repo_root}/.cache/kafka/libs}"
marker="${libs_dir}/.kafka-version"

if [[ -f "${marker}" && "$(cat "${marker}")" == "${KAFKA_VERSION}/${LOG4J_VERSION}" ]]; then
  echo "fetch_kafka: Kafka ${KAFKA_VERSION} jars already in ${libs_dir}"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch_kafka: mvn (Maven) is not installed" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cat >"${work}/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>fetch-kafka</artifactId><version>1</version>
<dependencies>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA_VERSION}</artifactId>
<version>${KAFKA_VERSION}</version></dependency>
<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
<version>${LOG4J_VERSION}</version></dependency>
</dependencies></project>
EOF

# A fresh folder: jars of another Kafka version on the same classpath would clash.
rm -rf "${libs_dir}"
mkdir -p "${libs_dir}"
# Maven's output is shown only when it fails.
if ! output="$(mvn -q -B -f "${work}/pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="${libs_dir}" 2>&1)"; then
  echo "${output}" >&2
  echo "fetch_kafka: Maven could not fetch org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION}" >&2
  exit 1
fi

[[ -s "${libs_dir}/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]] || {
  echo "fetch_kafka: kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar is missing after the download" >&2
  exit 1
}
echo "${KAFKA_VERSION}/${LOG4J_VERSION}" >"${marker}"
echo "fetch_kafka: Kafka ${KAFKA_VERSION} ($(find "${libs_dir}" -name '*.jar' | wc -l) jars) ready in ${libs_dir}"
