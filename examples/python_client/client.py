#!/usr/bin/env python3
"""A vnrpc client in Python, written from docs/protocol.md alone.

It talks to a vnrpc server over ZeroMQ TCP, as a vn.py process on another
machine would: hello, the event subscription with gap detection, queries,
a subscription and an order that fills on the simulated exchange.

    python3 examples/python_client/client.py tcp://127.0.0.1:2014

Needs pyzmq and msgpack (Debian: python3-zmq python3-msgpack). Without
CURVE it reaches a server on loopback, or one started with --insecure.
"""

import argparse
import hashlib
import os
import socket
import sys
import time
import uuid

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message

PROTOCOL_VERSION = 2

# Message kinds (section 2) and event record types (section 11).
REQUEST, REPLY, EVENT = 0, 1, 2
EV_TICK, EV_ORDER, EV_TRADE = 1, 2, 3
CODES = {0: "ok", 1: "unknown method", 2: "deadline exceeded", 3: "bad request",
         4: "internal", 5: "application", 6: "shutdown", 7: "timed out", 8: "version mismatch"}
SUBSCRIBE = b"\x01"  # the event port's one message (section 4)

# The positional forms (section 10).
TICK_FIELDS = (["gateway_name", "symbol", "exchange", "datetime", "name", "volume", "turnover",
                "open_interest", "last_price", "last_volume", "limit_up", "limit_down",
                "open_price", "high_price", "low_price", "pre_close"]
               + [f"{side}_{i}" for side in ("bid_price", "ask_price", "bid_volume", "ask_volume")
                  for i in range(1, 6)]
               + ["localtime"])
ORDER_FIELDS = ["gateway_name", "symbol", "exchange", "orderid", "type", "direction", "offset",
                "price", "volume", "traded", "status", "datetime", "reference", "reason"]
TRADE_FIELDS = ["gateway_name", "symbol", "exchange", "orderid", "tradeid", "direction",
                "offset", "price", "volume", "datetime"]


class RemoteError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{CODES.get(code, code)}: {message}")
        self.code = code


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


def unpack(b):
    return msgpack.unpackb(b, raw=False)


def record(fields, payload):
    """A positional record, or its map form, as a dict (missing trailing fields unset)."""
    v = unpack(payload)
    if isinstance(v, dict):
        return v
    return dict(zip(fields, v))


def host_identity():
    """Section 5: SHA-256 over machine id, boot id, network namespace and hostname."""
    h = hashlib.sha256()
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, "rb") as f:
                h.update(f.read().strip())
        except OSError:
            pass
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            h.update(f.read())
    except OSError:
        pass
    try:
        h.update(os.readlink("/proc/self/ns/net").encode())
    except OSError:
        pass
    h.update(socket.gethostname().encode())
    return h.digest()[:12].hex()


class Client:
    def __init__(self, addr, timeout=5.0):
        self.ctx = zmq.Context()
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(addr)
        self.addr, self.timeout = addr, timeout
        self.next_id = 1
        self.sub = self.sub_monitor = None
        self.expect = None  # the next event sequence number
        self.lost = 0

    def call(self, method, args):
        """One request (section 2, 4) with a deadline; the reply matched by id."""
        rid, self.next_id = self.next_id, self.next_id + 1
        timeout_ns = int(self.timeout * 1e9)  # relative: no wall clock crosses the wire
        self.dealer.send(pack([REQUEST, rid, method, timeout_ns, time.monotonic_ns(), pack(args)]))
        end = time.monotonic() + self.timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.dealer.poll(int(left * 1000)):
                raise TimeoutError(f"{method}: no reply from {self.addr} in {self.timeout} s")
            msg = unpack(self.dealer.recv())
            if len(msg) != 5 or msg[0] != REPLY:
                raise ValueError(f"malformed reply {msg!r}")
            _, got, code, message, result = msg
            if got != rid:
                continue  # a reply to a call that already gave up
            if code != 0:
                raise RemoteError(code, message)
            return unpack(result) if result else None

    def hello(self):
        w = self.call("rpc.hello", {"version": PROTOCOL_VERSION, "client_id": uuid.uuid4().hex,
                                    "host": host_identity(), "pid": os.getpid()})
        if w["version"] != PROTOCOL_VERSION:
            raise RuntimeError(f"server speaks protocol {w['version']}, this client {PROTOCOL_VERSION}")
        if w["event_port"]:
            # Section 4: a DEALER that sends the subscribe message after
            # every handshake (a reconnected one subscribes again).
            host = self.addr.rsplit(":", 1)[0]
            self.sub = self.ctx.socket(zmq.DEALER)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub_monitor = self.sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
            self.sub.connect(f"{host}:{w['event_port']}")
            self.poller = zmq.Poller()
            self.poller.register(self.sub, zmq.POLLIN)
            self.poller.register(self.sub_monitor, zmq.POLLIN)
        return w

    def events(self, seconds):
        """Yields (type, payload) for the events that come within seconds, counting gaps (section 8)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready = dict(self.poller.poll(int(left * 1000) + 1))
            if self.sub_monitor in ready:
                if recv_monitor_message(self.sub_monitor)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    self.sub.send(SUBSCRIBE)
            if self.sub not in ready:
                continue
            kind, seq, typ, _stamp, payload = unpack(self.sub.recv())
            if kind != EVENT:
                raise ValueError(f"not an event: kind {kind}")
            if self.expect is not None and seq != self.expect:
                if seq < self.expect:
                    raise ValueError(f"sequence went back from {self.expect} to {seq}")
                self.lost += seq - self.expect
                print(f"gap\t{seq - self.expect} events lost: a real client would resync now", flush=True)
            self.expect = seq + 1
            yield typ, payload

    def close(self):
        if self.sub is not None:
            self.sub.disable_monitor()
        for s in (self.dealer, self.sub, self.sub_monitor):
            if s is not None:
                s.close()
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("addr", nargs="?", default="tcp://127.0.0.1:2014")
    ap.add_argument("--symbol", default="rb2601.SHFE")
    ap.add_argument("--gateway", default="SIM")
    ap.add_argument("--ticks", type=int, default=5, help="ticks to receive before ordering")
    args = ap.parse_args()
    symbol, exchange = args.symbol.rsplit(".", 1)

    c = Client(args.addr)
    try:
        w = c.hello()
        print(f"connected\tepoch {w['epoch']:x}, server pid {w['server_pid']}, next event {w['last_seq']}", flush=True)
        contracts = c.call("get_all_contracts", [])
        print(f"contracts\t{len(contracts)}", flush=True)
        print(f"status\t{c.call('status', [])}", flush=True)
        c.call("subscribe", [{"symbol": symbol, "exchange": exchange}, args.gateway])

        ticks, last = 0, None
        while ticks < args.ticks:
            for typ, payload in c.events(1.0):
                if typ == EV_TICK:
                    t = record(TICK_FIELDS, payload)
                    if (t["symbol"], t["exchange"]) == (symbol, exchange):
                        ticks, last = ticks + 1, t
                        print(f"tick\t{symbol}.{exchange} last {t['last_price']} "
                              f"bid {t['bid_price_1']} ask {t['ask_price_1']}", flush=True)
                        if ticks == args.ticks:
                            break

        # Buy one lot at the ask: the simulated exchange fills it.
        req = {"symbol": symbol, "exchange": exchange, "direction": "LONG", "type": "LIMIT",
               "volume": 1.0, "price": last["ask_price_1"], "offset": "OPEN", "reference": "python"}
        vt_orderid = c.call("send_order", [req, args.gateway])
        print(f"sent\t{vt_orderid}", flush=True)
        orderid = vt_orderid.split(".", 1)[1]
        filled = False
        deadline = time.monotonic() + 10
        while not filled and time.monotonic() < deadline:
            for typ, payload in c.events(0.5):
                if typ == EV_ORDER:
                    o = record(ORDER_FIELDS, payload)
                    if o["orderid"] == orderid:
                        print(f"order\t{vt_orderid} {o['status']} traded {o['traded']}", flush=True)
                elif typ == EV_TRADE:
                    tr = record(TRADE_FIELDS, payload)
                    if tr["orderid"] == orderid:
                        print(f"trade\t{tr['tradeid']} {tr['volume']} @ {tr['price']}", flush=True)
                        filled = True
                        break
        if not filled:
            raise RuntimeError(f"{vt_orderid} did not fill in 10 s")
        try:
            c.call("no_such_method", [])
        except RemoteError as e:
            print(f"error\t{e}", flush=True)
        print(f"done\tlost {c.lost}", flush=True)
    finally:
        c.close()
    return 0 if c.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
