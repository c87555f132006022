#!/usr/bin/env bash
# Run a real OpenSearch node (with k-NN) in the foreground, on 127.0.0.1, logging to stdout.
# Usage: tests/opensearch/run.sh [-Esetting=value ...]   (extra node settings, e.g. -Ethread_pool.write.size=1)
#   OPENSEARCH_HOME  the assembled home (default: .opensearch/home at the repo root; built first if needed)
#   OPENSEARCH_PORT  HTTP port (default 9200); the transport port is a free one chosen by the OS
#   OPENSEARCH_DATA  data directory to use and keep (default: a fresh one, removed when the node exits)
# The script execs java, so its PID is the node's: stop it with SIGTERM.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OS_HOME=${OPENSEARCH_HOME:-$HERE/../../.opensearch/home}
"$HERE/build.sh" "$OS_HOME"
OS_HOME=$(cd "$OS_HOME" && pwd)

# Everything the node writes lives in one run directory: config (it adds a keystore), logs, tmp, data.
# As root it is made in /tmp, which the unprivileged node user can always reach.
if [ "$(id -u)" = 0 ]; then RUN=$(mktemp -d /tmp/opensearch-run.XXXXXX); else RUN=$(mktemp -d "${TMPDIR:-/tmp}/opensearch-run.XXXXXX"); fi
cp -r "$OS_HOME/config" "$RUN/config"
mkdir -p "$RUN/logs" "$RUN/tmp"
DATA=${OPENSEARCH_DATA:-$RUN/data}
mkdir -p "$DATA"

# OpenSearch refuses to run as root: drop to nobody, who must own what the node writes and read the home.
# The checkout may sit under a directory nobody cannot enter (a 0700 home or temp dir): run a copy.
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  mkdir "$RUN/home"
  cp -r "$OS_HOME/bin" "$OS_HOME/lib" "$OS_HOME/modules" "$OS_HOME/plugins" "$RUN/home/"
  OS_HOME=$RUN/home
  chmod 755 "$RUN"
  chown -R nobody:nogroup "$RUN" "$DATA"
  RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi

# Remove the run directory once the node (this PID, after exec) has exited, whatever stopped it.
(
  trap '' INT TERM HUP
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  rm -rf "$RUN"
) </dev/null >/dev/null 2>&1 &

# The real bootstrap class with the distribution's JVM flags; heap capped at 1 GB. Disk watermarks are off: on a
# nearly full disk a single test node would otherwise block index creation (high watermark) and writes (flood).
# The k-NN zip from Maven has no native libraries: the node says so (attribute knn_native: none), so that the store
# refuses the faiss and nmslib engines before writing instead of the node dying at their first flush.
exec "${RUNAS[@]}" "${JAVA:-java}" \
  -Xms512m -Xmx1g -Xss1m -XX:+UseG1GC \
  -Djava.io.tmpdir="$RUN/tmp" -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true \
  -Djava.locale.providers=SPI,COMPAT \
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
  -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
  -Dopensearch.path.home="$OS_HOME" -Dopensearch.path.conf="$RUN/config" \
  -Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false \
  -cp "$OS_HOME/lib/*" org.opensearch.bootstrap.OpenSearch \
  -Ehttp.port="${OPENSEARCH_PORT:-9200}" -Etransport.port=0 \
  -Epath.data="$DATA" -Epath.logs="$RUN/logs" \
  -Ecluster.routing.allocation.disk.threshold_enabled=false -Enode.attr.knn_native=none "$@"
