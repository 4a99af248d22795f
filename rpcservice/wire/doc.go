// Package wire is the msgpack encoding of vnrpc's trading objects, shared by
// the RPC service (rpcservice) and the RPC gateway (rpcservice/rpcgateway).
//
// Every object is a msgpack map keyed by the field names of the engine
// structs' msgpack tags, which are vn.py's attribute names (symbol,
// vt_symbol is derived and not sent). Enums are their stable English codes
// as strings ("LONG", "SHFE"). Times are int64 nanoseconds since the Unix
// epoch, UTC; an unset time is nil. A tick's book is sent as vn.py's flat
// fields bid_price_1 … ask_volume_5. Decoders skip keys they do not know, so
// fields can be added without breaking older readers; a field of the wrong
// type, an unknown enum code or truncated input is an error wrapping
// ErrMalformed. The format is specified in docs/protocol.md.
//
// Encode and Decode work on one *msgpack.Encoder / *msgpack.Decoder, so the
// objects can be embedded in larger messages; Marshal and Unmarshal are the
// byte-slice forms. All functions are safe for concurrent use.
package wire
