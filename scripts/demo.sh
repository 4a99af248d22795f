#!/usr/bin/env bash
# The demo: a trading engine on the simulated exchange, with live ticks and a
# sample order flow, until Ctrl-C. Extra arguments go to "vnrpc server".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
go build -o bin/vnrpc ./cmd/vnrpc
exec ./bin/vnrpc server --demo --tick-rate 5 "$@"
