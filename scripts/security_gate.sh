#!/usr/bin/env bash
# Security gate (docs/SECURITY_ACCEPTANCE_CRITERIA.md): the permission matrix and
# the other permission tests, the randomized grant bounds, the crash matrix (grants
# survive a crash at every persistence call), and the unit tests of the
# permission and auth rooms. Fails at the first failing command.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --test permissions --test permissions_random --test facade_recovery
cargo test -p aedb --lib -- permission auth


echo "security gate: passed"
