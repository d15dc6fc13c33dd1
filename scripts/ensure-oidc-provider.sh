#!/usr/bin/env bash
# The OpenID Connect provider the identity tests start (tests/oidc_provider: panva's oidc-provider,
# pinned by its package-lock.json): Node.js and npm from Debian if the machine lacks them, then
# `npm ci` once per lock file.  tests/test_identity_oidc.py calls this too, so a narrow test run works.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc_provider"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "installing Debian's nodejs and npm (OIDC provider for the identity tests)"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

stamp="$here/node_modules/.installed"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
    echo "installing the test OIDC provider (npm ci in tests/oidc_provider)"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
fi
