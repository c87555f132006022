#!/usr/bin/env bash
# Assemble a runnable OpenSearch home (server + k-NN plugin) from Maven Central artifacts.
# Usage: tests/opensearch/build.sh [HOME]   (default: .opensearch/home at the repo root)
# Quick when already built: a stamp file records the versions; a matching stamp skips the build.
# The k-NN zip on Maven Central carries no native libraries: only `engine: lucene` works on this node.
set -euo pipefail
OPENSEARCH_VERSION=2.19.1
KNN_VERSION=2.19.1.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OS_HOME=${1:-$ROOT/.opensearch/home}
WANT="opensearch=$OPENSEARCH_VERSION knn=$KNN_VERSION modules=netty4,painless,analysis-common,reindex"
if [ "$(cat "$OS_HOME/.stamp" 2>/dev/null)" = "$WANT" ]; then exit 0; fi

# Build beside the target and move it into place at the end, so a failed build leaves no half home.
mkdir -p "$(dirname "$OS_HOME")"
NEW=$(mktemp -d "$OS_HOME.partial.XXXXXX")
WORK=$(mktemp -d)   # generated poms and the downloaded plugin zip
trap 'rm -rf "$NEW" "$WORK"' EXIT
mkdir -p "$NEW"/{bin,lib,modules,plugins,config}   # bin/ must exist: the security manager grants on it
chmod 755 "$NEW"   # mktemp makes it 0700; an unprivileged node user must read the home

echo "assembling OpenSearch $OPENSEARCH_VERSION + k-NN $KNN_VERSION from Maven Central into $OS_HOME"
# Maven's log goes to a file, shown only when it fails (its -q mode still prints colour codes).
mvn_() { mvn -B -ntp "$@" >>"$WORK/maven.log" 2>&1 || { tail -n 40 "$WORK/maven.log" >&2; return 1; }; }
# resolve OUT [exclude-server] G:A:V...: copy the artifacts and their runtime deps into OUT.
# Modules and plugins exclude the server (and so its deps), which lib/ already holds.
resolve() {
  local out=$1 exclude=$2 pom; shift 2
  pom=$(mktemp -d "$WORK/pom.XXXXXX")
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>local.mmindex</groupId><artifactId>opensearch-home</artifactId><version>1</version>'
    echo '<packaging>pom</packaging><dependencies>'
    for gav in "$@"; do
      IFS=: read -r g a v <<<"$gav"
      echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version>"
      [ "$exclude" = exclude-server ] && echo '<exclusions><exclusion><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId></exclusion></exclusions>'
      echo '</dependency>'
    done
    echo '</dependencies></project>'
  } >"$pom/pom.xml"
  (cd "$pom" && mvn_ dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out")
}

# module DIR NAME CLASSNAME EXTENDED: the descriptor the distribution ships with each module.
descriptor() {
  cat >"$1/plugin-descriptor.properties" <<D
description=$2 module (assembled from Maven Central)
version=$OPENSEARCH_VERSION
name=$2
classname=$3
java.version=11
opensearch.version=$OPENSEARCH_VERSION
extended.plugins=$4
has.native.controller=false
D
}

# lib/: the server, its runtime deps, log4j-core and the plugin classloader, as in the distribution.
resolve "$NEW/lib" keep-server org.opensearch:opensearch:$OPENSEARCH_VERSION \
  org.apache.logging.log4j:log4j-core:2.21.0 org.opensearch:opensearch-plugin-classloader:$OPENSEARCH_VERSION

# modules/: HTTP and transport (netty4), painless (k-NN scoring scripts extend it), analysis-common, reindex.
M=$NEW/modules
resolve "$M/transport-netty4" exclude-server org.opensearch.plugin:transport-netty4-client:$OPENSEARCH_VERSION
descriptor "$M/transport-netty4" transport-netty4 org.opensearch.transport.Netty4Plugin ""
cat >"$M/transport-netty4/plugin-security.policy" <<'P'
grant {
   permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
   permission java.net.SocketPermission "*", "accept,connect";
   permission java.lang.RuntimePermission "*", "setContextClassLoader";
   permission java.lang.RuntimePermission "getClassLoader";
   permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
P
resolve "$M/lang-painless" exclude-server org.opensearch.plugin:lang-painless:$OPENSEARCH_VERSION
descriptor "$M/lang-painless" lang-painless org.opensearch.painless.PainlessPlugin ""
cat >"$M/lang-painless/plugin-security.policy" <<'P'
grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
P
resolve "$M/analysis-common" exclude-server org.opensearch.plugin:analysis-common:$OPENSEARCH_VERSION
descriptor "$M/analysis-common" analysis-common org.opensearch.analysis.common.CommonAnalysisPlugin "lang-painless"

# reindex: delete-by-query lives here. Jars lib/ already holds are dropped (a duplicate is jar hell).
resolve "$M/reindex" exclude-server org.opensearch.plugin:reindex-client:$OPENSEARCH_VERSION
for jar in "$M"/reindex/*.jar; do [ ! -e "$NEW/lib/$(basename "$jar")" ] || rm "$jar"; done
descriptor "$M/reindex" reindex org.opensearch.index.reindex.ReindexPlugin ""
cat >"$M/reindex/plugin-security.policy" <<'P'
grant {
  permission java.net.SocketPermission "*", "connect";
};
P

# plugins/opensearch-knn: the released plugin zip (descriptor and policy included).
(cd "$WORK" && mvn_ dependency:copy -Dartifact=org.opensearch.plugin:opensearch-knn:$KNN_VERSION:zip -DoutputDirectory="$WORK")
unzip -q "$WORK/opensearch-knn-$KNN_VERSION.zip" -d "$NEW/plugins/opensearch-knn"

# config/: run.sh copies it into each run's own directory (the node writes its keystore there).
cat >"$NEW/config/opensearch.yml" <<'Y'
cluster.name: mmindex-test
node.name: node-1
discovery.type: single-node
network.host: 127.0.0.1
Y
cat >"$NEW/config/log4j2.properties" <<'L'
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
L

echo "$WANT" >"$NEW/.stamp"
rm -rf "$OS_HOME"
mv -T "$NEW" "$OS_HOME"   # -T: fail rather than nest if a concurrent build got there first
echo "built $OS_HOME ($WANT)"
