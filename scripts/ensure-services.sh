#!/usr/bin/env bash
# Start what the tests and the console need and a fresh machine may lack:
# the PostgreSQL server of this machine, Debian's Chromium for the console tests, RabbitMQ, wrk, and slapd.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Chromium for the console tests, and a CJK font so Chinese names and labels render (not boxes)
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    echo "installing Debian's chromium and fonts-noto-cjk (console tests)"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

# RabbitMQ for the change publisher's tests (the embedded default needs no broker)
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! rabbit_up; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        echo "installing Debian's rabbitmq-server (change publisher tests)"
        export DEBIAN_FRONTEND=noninteractive
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq >/dev/null
        $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
    fi
    echo "starting RabbitMQ"
    rabbitmq-server -detached 2>/dev/null || service rabbitmq-server start
    for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
    rabbit_up || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1; }
fi

# wrk for the 360° view benchmark (benchmarks/service_wrk.py): a load generator that costs little CPU
if ! command -v wrk >/dev/null 2>&1; then
    echo "installing Debian's wrk (service benchmark)"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq wrk >/dev/null
fi

# Debian's OpenLDAP server and client tools for the LDAP bind tests (tests/test_identity_ldap.py starts a
# private slapd of its own on a free port; the package's system instance is not used)
if [ ! -x /usr/sbin/slapd ] || ! command -v ldapadd >/dev/null 2>&1; then
    echo "installing Debian's slapd and ldap-utils (LDAP bind tests)"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq slapd ldap-utils >/dev/null
fi

# Java 17 for the Spark batch engine (the [spark] extra's pyspark; tests/test_spark_engine.py, scripts/spark-cluster.sh)
if ! command -v java >/dev/null 2>&1; then
    echo "installing Debian's openjdk-17-jre-headless (Spark engine)"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
