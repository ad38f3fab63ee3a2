#!/usr/bin/env bash
# The system tools that `make demo`, `make test` and `make bench` use, installed from Debian's packages when
# they are missing. The one list of them: add a tool here, never in another script.
#
#   scripts/system_deps.sh demo|test|bench [--check]
#
# As root, or with passwordless sudo, it runs `apt-get update` once and installs what is missing. Otherwise it
# stops at once, printing the exact command to run. `--check` only reports (exit 1 when something is missing).
# Nothing is done, and nothing printed, when everything is already there.
set -euo pipefail

usage() { echo "usage: $0 demo|test|bench [--check]" >&2; exit 2; }
(( $# >= 1 )) || usage
purpose=$1
check_only=false
[[ "${2:-}" == "--check" ]] && check_only=true

# Where PostgreSQL's server binaries live on Debian (postgresql-NN puts them beside each other, not on PATH).
PG_INITDB_GLOB=${LGSP_SYSTEM_DEPS_PG_GLOB:-/usr/lib/postgresql/*/bin/initdb}

java_feature() {
    # The Java feature release on PATH (8, 11, 17, 21, ...), 0 when there is none.
    command -v java >/dev/null 2>&1 || { echo 0; return; }
    local version major
    version=$(java -version 2>&1 | sed -nE 's/.*version "([^"]+)".*/\1/p' | head -n 1)
    major=${version%%[.+-]*}
    if [[ "$major" == 1 ]]; then
        version=${version#1.}
        major=${version%%[.+-]*}
    fi
    [[ "$major" =~ ^[0-9]+$ ]] && echo "$major" || echo 0
}

has() { command -v "$1" >/dev/null 2>&1; }
has_java17() { (( $(java_feature) >= 17 )); }
has_postgres() { compgen -G "$PG_INITDB_GLOB" >/dev/null; }

# purpose(s) | Debian package | the check that it is there | what uses it
TABLE=(
    "demo test bench|openjdk-17-jdk-headless|has_java17|Kafka and the schema registry (JVM processes)"
    "demo test bench|maven|has mvn|fetching the Kafka and registry jars from Maven Central"
    "test|prometheus|has promtool|alert-rule unit tests (promtool) and the scrape and alert tests"
    "test|prometheus-alertmanager|has prometheus-alertmanager|the alert-routing tests"
    "test bench|wrk|has wrk|the ingress benchmark's HTTP load generator"
    "test|chromium|has chromium|the national page's browser tests"
    "test|postgresql|has_postgres|the PostgreSQL view-store tests"
    "test|nodejs|has node|the AsyncAPI parser and axe-core (npm packages)"
    "test|npm|has npm|installing the npm packages the tests use"
)

missing_packages() {
    # The packages for $purpose whose check fails, one per line.
    local row purposes package check _why
    for row in "${TABLE[@]}"; do
        IFS='|' read -r purposes package check _why <<<"$row"
        [[ " $purposes " == *" $purpose "* ]] || continue
        $check || echo "$package"
    done
}

mapfile -t missing < <(missing_packages)
[[ ${#missing[@]} -eq 0 ]] && exit 0

command_line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if $check_only; then
    echo "missing for '$purpose': ${missing[*]}" >&2
    echo "install them with: sudo sh -c '$command_line'" >&2
    exit 1
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
    if has sudo && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "error: '$purpose' needs these Debian packages, which are missing: ${missing[*]}" >&2
        echo "run as root (or give this user passwordless sudo), then run make again:" >&2
        echo "  sudo sh -c '$command_line'" >&2
        exit 1
    fi
fi

apt_get=${LGSP_SYSTEM_DEPS_APT_GET:-apt-get}
echo "installing Debian packages for '$purpose': ${missing[*]}"
"${sudo[@]}" "$apt_get" -o DPkg::Lock::Timeout=600 update -q
# One retry: a mirror hiccup should not fail the whole run.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "$apt_get" -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" ||
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "$apt_get" -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"

# What apt said it installed must now be found, or the run stops here rather than in a skipped test.
mapfile -t still < <(missing_packages)
if (( ${#still[@]} > 0 )); then
    echo "error: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
