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
	b = appendF64(mp.AppendStr(b, "volume"), req.Volume)
	b = appendF64(mp.AppendStr(b, "price"), req.Price)
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
	g, ok := argsMap(b, func(key []byte, r *reader) uint8 {
		switch string(key) {
		case "symbol":
			v.Symbol = string(r.canonicalStr())
			return 1
		case "exchange":
			r.canonicalEnum(exchanges, (*uint8)(&v.Exchange))
			return 2
		case "direction":
			r.canonicalEnum(directions, (*uint8)(&v.Direction))
			return 4
		case "type":
			r.canonicalEnum(orderTypes, (*uint8)(&v.Type))
			return 8
		case "volume":
			v.Volume = r.canonicalF64()
			return 16
		case "price":
			v.Price = r.canonicalF64()
			return 32
		case "offset":
			r.canonicalEnum(offsets, (*uint8)(&v.Offset))
			return 64
		case "reference":
			v.Reference = string(r.canonicalStr())
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
	g, ok := argsMap(b, func(key []byte, r *reader) uint8 {
		switch string(key) {
		case "orderid":
			v.OrderID = string(r.canonicalStr())
			return 1
		case "symbol":
			v.Symbol = string(r.canonicalStr())
			return 2
		case "exchange":
			r.canonicalEnum(exchanges, (*uint8)(&v.Exchange))
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
func argsMap(b []byte, field func(key []byte, r *reader) uint8) (gw string, ok bool) {
	r := reader{b: b}
	n, keys := r.argsHeader()
	if n < 2 || keys == 0 {
		return "", false
	}
	var seen uint8
	for range keys {
		bit := field(r.canonicalStr(), &r)
		if bit == 0 || r.err != nil || seen&bit != 0 {
			return "", false
		}
		seen |= bit
	}
	g := r.canonicalStr()
	if r.err != nil {
		return "", false
	}
	return string(g), true
}

// argsHeader reads a fixarray header and the fixmap header of its first
// item; 0s for anything else.
func (r *reader) argsHeader() (items, keys int) {
	if len(r.b) < 2 || r.b[0]&0xf0 != 0x90 || r.b[1]&0xf0 != 0x80 {
		return 0, 0
	}
	r.pos = 2
	return int(r.b[0] & 0x0f), int(r.b[1] & 0x0f)
}

// canonicalStr reads a string in a str format (not bin, not nil), or fails.
func (r *reader) canonicalStr() []byte {
	if !r.need(1) {
		return nil
	}
	if c := r.b[r.pos]; c&0xe0 != 0xa0 && c != 0xd9 && c != 0xda && c != 0xdb {
		r.fail("not a str")
		return nil
	}
	return r.strBytes()
}

// canonicalEnum is enum for a str-format code only.
func (r *reader) canonicalEnum(table map[string]uint8, dst *uint8) {
	if !r.need(1) {
		return
	}
	if c := r.b[r.pos]; c&0xe0 != 0xa0 && c != 0xd9 && c != 0xda && c != 0xdb {
		r.fail("not a str")
		return
	}
	r.enum(table, dst)
}

// canonicalF64 reads a float64 (0xcb), or fails.
func (r *reader) canonicalF64() float64 {
	if !r.need(1) || r.b[r.pos] != 0xcb {
		r.fail("not a float64")
		return 0
	}
	return r.f64()
}
