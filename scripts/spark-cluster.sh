#!/usr/bin/env bash
# A Spark standalone cluster on this machine's loopback, from the [spark] extra's pyspark installation:
# one master (spark://127.0.0.1:7077) and two workers, their logs, pids and work folders in one folder.
#
#   scripts/spark-cluster.sh start|stop|status
#
# Then e.g. `CUSTODATA_TEST_SPARK_MASTER=spark://127.0.0.1:7077 .venv/bin/pytest tests/test_engine_port.py`.
# Settings (environment): SPARK_CLUSTER_DIR (default /tmp/custodata-spark-cluster), SPARK_MASTER_PORT (7077),
# SPARK_WORKERS (2), SPARK_WORKER_CORES (1), SPARK_WORKER_MEMORY (2g), SPARK_WEBUI_PORT (8480: master; workers +1, +2).
# pyspark's pip package ships bin/spark-class and sbin/spark-daemon.sh but not start-master.sh, so the daemons
# are started through spark-daemon.sh with the Master and Worker classes.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
dir="${SPARK_CLUSTER_DIR:-/tmp/custodata-spark-cluster}"
port="${SPARK_MASTER_PORT:-7077}"
workers="${SPARK_WORKERS:-2}"
ui="${SPARK_WEBUI_PORT:-8480}"
master="spark://127.0.0.1:$port"

SPARK_HOME="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)" || {
    echo "pyspark is not installed in $python (make installs the [spark] extra)" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "java is missing (scripts/ensure-services.sh installs it)" >&2; exit 1; }
export SPARK_HOME SPARK_LOG_DIR="$dir/logs" SPARK_PID_DIR="$dir/pids" SPARK_LOCAL_IP=127.0.0.1
export SPARK_IDENT_STRING=custodata PYSPARK_PYTHON="$python"
daemon="$SPARK_HOME/sbin/spark-daemon.sh"
MASTER_CLASS=org.apache.spark.deploy.master.Master
WORKER_CLASS=org.apache.spark.deploy.worker.Worker

master_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
registered() { cat "$SPARK_LOG_DIR"/*Master*.out 2>/dev/null | grep -c "Registering worker" || true; }

start() {
    mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR"
    if master_up; then
        echo "a master already listens on $master"
    else
        "$daemon" start "$MASTER_CLASS" 1 --host 127.0.0.1 --port "$port" --webui-port "$ui" >/dev/null
        for _ in $(seq 1 60); do master_up && break; sleep 1; done
        master_up || { echo "the master did not come up on $master (see $SPARK_LOG_DIR)" >&2; exit 1; }
    fi
    for i in $(seq 1 "$workers"); do
        mkdir -p "$dir/work/$i"
        "$daemon" start "$WORKER_CLASS" "$i" --host 127.0.0.1 --webui-port $((ui + i)) \
            --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
            --work-dir "$dir/work/$i" "$master" >/dev/null
    done
    # the workers are up once the master's log shows them registered
    for _ in $(seq 1 60); do
        [ "$(registered)" -ge "$workers" ] && break
        sleep 1
    done
    status
}

stop() {
    for i in $(seq "$workers" -1 1); do "$daemon" stop "$WORKER_CLASS" "$i" >/dev/null || true; done
    "$daemon" stop "$MASTER_CLASS" 1 >/dev/null || true
    echo "stopped ($dir keeps the logs)"
}

status() {
    local rc=0
    "$daemon" status "$MASTER_CLASS" 1 >/dev/null 2>&1 && echo "master $master: running" \
        || { echo "master $master: not running"; rc=3; }
    for i in $(seq 1 "$workers"); do
        "$daemon" status "$WORKER_CLASS" "$i" >/dev/null 2>&1 && echo "worker $i: running" \
            || { echo "worker $i: not running"; rc=3; }
    done
    if master_up; then echo "registered workers: $(registered)"; fi
    echo "logs and pids: $dir"
    return $rc
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
