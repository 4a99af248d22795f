#!/usr/bin/env bash
# The demo: a server (trading engine on the simulated exchange, serving it
# with the RPC service) and a client process (a main engine with the RPC
# gateway) that trades through it over shared memory, until Ctrl-C.
# Extra arguments go to "vnrpc client".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh build
go build -o bin/vnrpc ./cmd/vnrpc
dir=$(mktemp -d)
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
# The server logs to server.log; its RPC service listens on loopback only.
./bin/vnrpc server --tick-rate 5 --data-dir "$dir" --summary-interval 5s >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	grep -q "RPC service started" "$dir/server.log" 2>/dev/null && break
	kill -0 $server 2>/dev/null || { cat "$dir/server.log"; exit 1; }
	sleep 0.1
done
grep "RPC service started" "$dir/server.log" || { cat "$dir/server.log"; exit 1; }
echo "--- client (Ctrl-C to stop both) ---"
./bin/vnrpc client --demo "$@" tcp://127.0.0.1:2014 || true
