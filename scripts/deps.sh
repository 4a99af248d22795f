#!/usr/bin/env bash
# Installs what vnrpc needs on a Debian machine that has Go, and does
# nothing when it is already there. Run as root, or with sudo available.
#
#   scripts/deps.sh build   what building needs: libzmq3-dev and pkg-config
#                           (cgo, for the ZeroMQ LAN transport)
#   scripts/deps.sh         what the tests need too: iproute2 (the network
#                           namespace test), chromium and a CJK font (the
#                           console's browser tests), python3-zmq and
#                           python3-msgpack (the Python client example's test)
set -euo pipefail
mode=${1:-test}

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "deps: add /usr/local/go/bin to PATH" >&2
  else
    echo "deps: Go is not installed (https://go.dev/doc/install); vnrpc needs Go 1.26" >&2
  fi
  exit 1
fi

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libzmq3-dev >/dev/null 2>&1 || need+=(libzmq3-dev)
if [ "$mode" != build ]; then
  command -v ip >/dev/null 2>&1 || need+=(iproute2) # the network-namespace test
  # The console's browser tests drive Debian's Chromium; a CJK font lets its
  # screenshots show the zh labels.
  [ -x /usr/lib/chromium/chromium ] || [ -n "${VNRPC_CHROMIUM:-}" ] || need+=(chromium)
  dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
  # The Python client example's test (examples/python_client) uses Debian's python3.
  /usr/bin/python3 -c 'import zmq, msgpack' >/dev/null 2>&1 || need+=(python3-zmq python3-msgpack)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: please install ${need[*]} (ZeroMQ development files and pkg-config) with your package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: run as root or install sudo to get ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps: installing ${need[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}" >/dev/null
