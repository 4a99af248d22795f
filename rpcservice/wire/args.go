package wire

import (
	e "github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// The arguments of send_order and cancel_order, [request, gateway_name],
// are on a strategy's tick-to-order path. EncodeArgs and DecodeArgs take
// them by hand, with no msgpack.Encoder or Decoder and no allocation but
// the strings: the bytes are exactly those of the general path (the map
// form, its keys in the codec's order), and decoding accepts exactly what
// the general path accepts, because anything but the canonical form
// (another key, a key twice, a string as bin, a float as an integer …) is
// handed to the general path, which decides.

// appendOrderRequestArgs appends [req (map form), gw]; ok is false for an
// invalid enum (the general path then reports it).
func appendOrderRequestArgs(b []byte, req *e.OrderRequest, gw string) (_ []byte, ok bool) {
	for _, v := range [...]enumType8{req.Exchange, req.Direction, req.Type, req.Offset} {
		if validEnum(v) != nil {
			return nil, false
		}
	}
	b = append(b, 0x92, 0x80|8) // [2 items], {8 keys}: the order of orderRequestCodec
	b = mp.AppendStr(mp.AppendStr(b, "symbol"), req.Symbol)
	b = mp.AppendStr(mp.AppendStr(b, "exchange"), req.Exchange.String())
	b = mp.AppendStr(mp.AppendStr(b, "direction"), req.Direction.String())
	b = mp.AppendStr(mp.AppendStr(b, "type"), req.Type.String())
	b = mp.AppendFloat(mp.AppendStr(b, "volume"), req.Volume)
	b = mp.AppendFloat(mp.AppendStr(b, "price"), req.Price)
	b = mp.AppendStr(mp.AppendStr(b, "offset"), req.Offset.String())
	b = mp.AppendStr(mp.AppendStr(b, "reference"), req.Reference)
	return mp.AppendStr(b, gw), true
}

// appendCancelArgs is appendOrderRequestArgs for a cancel request.
func appendCancelArgs(b []byte, req *e.CancelRequest, gw string) (_ []byte, ok bool) {
	if validEnum(req.Exchange) != nil {
		return nil, false
	}
	b = append(b, 0x92, 0x80|3) // the order of cancelCodec
	b = mp.AppendStr(mp.AppendStr(b, "orderid"), req.OrderID)
	b = mp.AppendStr(mp.AppendStr(b, "symbol"), req.Symbol)
	b = mp.AppendStr(mp.AppendStr(b, "exchange"), req.Exchange.String())
	return mp.AppendStr(b, gw), true
}

// decodeOrderRequestArgs decodes the canonical form of [req, gw, …]; ok is
// false when b is anything else (the general path then decides).
func decodeOrderRequestArgs(b []byte, req *e.OrderRequest, gw *string) (ok bool) {
	var v e.OrderRequest
	g, ok := argsMap(b, func(key []byte, r *mp.Reader) uint8 {
		switch string(key) {
		case "symbol":
			v.Symbol = string(canonicalStr(r))
			return 1
		case "exchange":
			canonicalEnum(r, exchanges, (*uint8)(&v.Exchange))
			return 2
		case "direction":
			canonicalEnum(r, directions, (*uint8)(&v.Direction))
			return 4
		case "type":
			canonicalEnum(r, orderTypes, (*uint8)(&v.Type))
			return 8
		case "volume":
			v.Volume = canonicalF64(r)
			return 16
		case "price":
			v.Price = canonicalF64(r)
			return 32
		case "offset":
			canonicalEnum(r, offsets, (*uint8)(&v.Offset))
			return 64
		case "reference":
			v.Reference = string(canonicalStr(r))
			return 128
		}
		return 0
	})
	if ok {
		*req, *gw = v, g
	}
	return ok
}

// decodeCancelArgs is decodeOrderRequestArgs for a cancel request.
func decodeCancelArgs(b []byte, req *e.CancelRequest, gw *string) (ok bool) {
	var v e.CancelRequest
	g, ok := argsMap(b, func(key []byte, r *mp.Reader) uint8 {
		switch string(key) {
		case "orderid":
			v.OrderID = string(canonicalStr(r))
			return 1
		case "symbol":
			v.Symbol = string(canonicalStr(r))
			return 2
		case "exchange":
			canonicalEnum(r, exchanges, (*uint8)(&v.Exchange))
			return 4
		}
		return 0
	})
	if ok {
		*req, *gw = v, g
	}
	return ok
}

// argsMap walks the canonical form of [request map, gw, …]: field reads
// the value of one key into the request and returns the key's bit, 0 for
// an unknown key. ok is false for anything else: another form, an unknown
// or repeated key, a value field could not read.
func argsMap(b []byte, field func(key []byte, r *mp.Reader) uint8) (gw string, ok bool) {
	r := mp.NewReader(b, ErrMalformed, "arguments")
	n, keys := argsHeader(&r)
	if n < 2 || keys == 0 {
		return "", false
	}
	var seen uint8
	for range keys {
		bit := field(canonicalStr(&r), &r)
		if bit == 0 || r.Err != nil || seen&bit != 0 {
			return "", false
		}
		seen |= bit
	}
	g := canonicalStr(&r)
	if r.Err != nil {
		return "", false
	}
	return string(g), true
}

// argsHeader reads a fixarray header and the fixmap header of its first
// item; 0s for anything else.
func argsHeader(r *mp.Reader) (items, keys int) {
	if len(r.B) < 2 || r.B[0]&0xf0 != 0x90 || r.B[1]&0xf0 != 0x80 {
		return 0, 0
	}
	r.Pos = 2
	return int(r.B[0] & 0x0f), int(r.B[1] & 0x0f)
}

// canonicalStr reads a string in a str format (not bin, not nil), or fails.
func canonicalStr(r *mp.Reader) []byte {
	if !r.IsStr() {
		r.Fail("not a str")
		return nil
	}
	return r.StrBytes()
}

// canonicalEnum is enum for a str-format code only.
func canonicalEnum(r *mp.Reader, table map[string]uint8, dst *uint8) {
	if !r.IsStr() {
		r.Fail("not a str")
		return
	}
	readEnum(r, table, dst)
}

// canonicalF64 reads a float64 (0xcb), or fails.
func canonicalF64(r *mp.Reader) float64 {
	if c, ok := r.Peek(); !ok || c != 0xcb {
		r.Fail("not a float64")
		return 0
	}
	return r.Float()
}
