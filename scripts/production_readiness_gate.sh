#!/usr/bin/env bash
# Production-readiness gate (docs/PRODUCTION_READINESS.md): the query
# integration tests, backup and restore, the crash matrix, the stress test,
# then the security gate (scripts/security_gate.sh), in that order. Prints
# one PASS or FAIL line per step and stops at the first failure, exiting with
# that step's status and naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs one step: `step <name> <command...>`.
step() {
    local name=$1
    shift
    echo "==> $name: $*"
    local status=0
    "$@" || status=$?
    if [ "$status" -eq 0 ]; then
        echo "PASS $name"
    else
        echo "FAIL $name (exit $status): $*"
        echo "production readiness gate: failed at step $name" >&2
        exit "$status"
    fi
}

step query_integration cargo test --test query_integration
step backup_restore cargo test --test backup_restore
step crash_matrix cargo test --test crash_matrix
step stress cargo test --test stress
step security_gate ./scripts/security_gate.sh

echo "production readiness gate: passed"
