package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	e "github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// The hot records — tick, order, trade — also have a positional form: a
// msgpack array of their fields in a fixed order (docs/protocol.md lists
// it), written by hand with no reflection and no allocation, and read
// into a reused value with no allocation when its strings have not
// changed (a symbol's next tick). The Decode*Fast functions accept the
// map form too, so a writer may send either; a reader ignores array
// elements past those it knows, and missing trailing elements leave zero
// values, so fields can be appended without breaking older readers.

// Field counts of the positional forms.
const (
	tickFields  = 37
	orderFields = 14
	tradeFields = 10
)

// AppendTick appends t's positional form to b:
//
//	[gateway_name, symbol, exchange, datetime, name, volume, turnover,
//	 open_interest, last_price, last_volume, limit_up, limit_down,
//	 open_price, high_price, low_price, pre_close,
//	 bid_price_1..5, ask_price_1..5, bid_volume_1..5, ask_volume_1..5,
//	 localtime]
func AppendTick(b []byte, t *e.Tick) ([]byte, error) {
	if err := validEnum(t.Exchange); err != nil {
		return b, err
	}
	b = mp.AppendArrayLen(b, tickFields)
	b = mp.AppendStr(b, t.GatewayName)
	b = mp.AppendStr(b, t.Symbol)
	b = mp.AppendStr(b, t.Exchange.String())
	b = appendTime(b, t.Datetime)
	b = mp.AppendStr(b, t.Name)
	b = slices.Grow(b, tickFloatBytes) // the 31 numbers at fixed offsets: no bounds checks
	n := len(b)
	b = b[:n+tickFloatBytes]
	f := (*[tickFloatBytes]byte)(b[n:])
	putF64(f, 0, t.Volume)
	putF64(f, 1, t.Turnover)
	putF64(f, 2, t.OpenInterest)
	putF64(f, 3, t.LastPrice)
	putF64(f, 4, t.LastVolume)
	putF64(f, 5, t.LimitUp)
	putF64(f, 6, t.LimitDown)
	putF64(f, 7, t.OpenPrice)
	putF64(f, 8, t.HighPrice)
	putF64(f, 9, t.LowPrice)
	putF64(f, 10, t.PreClose)
	for k := range 5 {
		putF64(f, 11+k, t.BidPrice[k])
		putF64(f, 16+k, t.AskPrice[k])
		putF64(f, 21+k, t.BidVolume[k])
		putF64(f, 26+k, t.AskVolume[k])
	}
	return appendTime(b, t.Localtime), nil
}

// DecodeTickFast decodes a tick, positional or map form, into t. Every
// field is overwritten; strings equal to t's current ones are kept, so a
// reused value costs no allocation.
func DecodeTickFast(b []byte, t *e.Tick) error {
	// The loop is written out per type: a field function passed as a value
	// would make the reader escape to the heap.
	r := mp.NewReader(b, ErrMalformed, "Tick")
	if r.PeekMap() {
		return Unmarshal(b, t)
	}
	n := r.ArrayLen()
	if n == tickFields { // the common case, straight through
		r.Str(&t.GatewayName)
		r.Str(&t.Symbol)
		enumKeep(&r, exchanges, (*uint8)(&t.Exchange), t.Exchange.String())
		readTime(&r, &t.Datetime)
		r.Str(&t.Name)
		if !tickFloats(&r, t) { // some numbers are not float64s (another writer)
			for i := 5; i < 36; i++ {
				tickField(&r, t, i)
			}
		}
		readTime(&r, &t.Localtime)
		return r.End()
	}
	for i := 0; i < n && r.Err == nil; i++ {
		if i < tickFields {
			tickField(&r, t, i)
		} else {
			r.Skip()
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	if n < tickFields { // an older writer: the missing fields are zero
		for z, i := zeroFrom(zeroTick, n), n; i < tickFields; i++ {
			tickField(&z, t, i)
		}
	}
	return nil
}

func tickField(r *mp.Reader, t *e.Tick, i int) {
	switch {
	case i == 0:
		r.Str(&t.GatewayName)
	case i == 1:
		r.Str(&t.Symbol)
	case i == 2:
		readEnum(r, exchanges, (*uint8)(&t.Exchange))
	case i == 3:
		readTime(r, &t.Datetime)
	case i == 4:
		r.Str(&t.Name)
	case i < 16:
		*[...]*float64{&t.Volume, &t.Turnover, &t.OpenInterest, &t.LastPrice, &t.LastVolume, &t.LimitUp,
			&t.LimitDown, &t.OpenPrice, &t.HighPrice, &t.LowPrice, &t.PreClose}[i-5] = r.Float()
	case i < 36:
		k := i - 16
		[...]*[5]float64{&t.BidPrice, &t.AskPrice, &t.BidVolume, &t.AskVolume}[k/5][k%5] = r.Float()
	default:
		readTime(r, &t.Localtime)
	}
}

// zeroFrom is a reader at field n of a zero value's positional form: it
// supplies the fields a shorter array leaves out.
func zeroFrom(zero []byte, n int) mp.Reader {
	z := mp.NewReader(zero, ErrMalformed, "zero value")
	z.ArrayLen()
	for range n {
		z.Skip()
	}
	return z
}

// The zero values' positional forms.
var (
	zeroTick, _  = AppendTick(nil, &e.Tick{})
	zeroOrder, _ = AppendOrder(nil, &e.Order{})
	zeroTrade, _ = AppendTrade(nil, &e.Trade{})
)

// AppendOrder appends o's positional form to b:
//
//	[gateway_name, symbol, exchange, orderid, type, direction, offset,
//	 price, volume, traded, status, datetime, reference, reason]
func AppendOrder(b []byte, o *e.Order) ([]byte, error) {
	for _, v := range [...]enumType8{o.Exchange, o.Type, o.Direction, o.Offset, o.Status} {
		if err := validEnum(v); err != nil {
			return b, err
		}
	}
	b = mp.AppendArrayLen(b, orderFields)
	b = mp.AppendStr(b, o.GatewayName)
	b = mp.AppendStr(b, o.Symbol)
	b = mp.AppendStr(b, o.Exchange.String())
	b = mp.AppendStr(b, o.OrderID)
	b = mp.AppendStr(b, o.Type.String())
	b = mp.AppendStr(b, o.Direction.String())
	b = mp.AppendStr(b, o.Offset.String())
	b = mp.AppendFloat(b, o.Price)
	b = mp.AppendFloat(b, o.Volume)
	b = mp.AppendFloat(b, o.Traded)
	b = mp.AppendStr(b, o.Status.String())
	b = appendTime(b, o.Datetime)
	b = mp.AppendStr(b, o.Reference)
	return mp.AppendStr(b, o.Reason), nil
}

// DecodeOrderFast decodes an order, positional or map form, into o.
func DecodeOrderFast(b []byte, o *e.Order) error {
	// The loop is written out per type: a field function passed as a value
	// would make the reader escape to the heap.
	r := mp.NewReader(b, ErrMalformed, "Order")
	if r.PeekMap() {
		return Unmarshal(b, o)
	}
	n := r.ArrayLen()
	for i := 0; i < n && r.Err == nil; i++ {
		if i < orderFields {
			orderField(&r, o, i)
		} else {
			r.Skip()
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	if n < orderFields { // an older writer: the missing fields are zero
		for z, i := zeroFrom(zeroOrder, n), n; i < orderFields; i++ {
			orderField(&z, o, i)
		}
	}
	return nil
}

func orderField(r *mp.Reader, o *e.Order, i int) {
	switch i {
	case 0:
		r.Str(&o.GatewayName)
	case 1:
		r.Str(&o.Symbol)
	case 2:
		readEnum(r, exchanges, (*uint8)(&o.Exchange))
	case 3:
		r.Str(&o.OrderID)
	case 4:
		readEnum(r, orderTypes, (*uint8)(&o.Type))
	case 5:
		readEnum(r, directions, (*uint8)(&o.Direction))
	case 6:
		readEnum(r, offsets, (*uint8)(&o.Offset))
	case 7:
		o.Price = r.Float()
	case 8:
		o.Volume = r.Float()
	case 9:
		o.Traded = r.Float()
	case 10:
		readEnum(r, statuses, (*uint8)(&o.Status))
	case 11:
		readTime(r, &o.Datetime)
	case 12:
		r.Str(&o.Reference)
	default:
		r.Str(&o.Reason)
	}
}

// AppendTrade appends t's positional form to b:
//
//	[gateway_name, symbol, exchange, orderid, tradeid, direction, offset,
//	 price, volume, datetime]
func AppendTrade(b []byte, t *e.Trade) ([]byte, error) {
	for _, v := range [...]enumType8{t.Exchange, t.Direction, t.Offset} {
		if err := validEnum(v); err != nil {
			return b, err
		}
	}
	b = mp.AppendArrayLen(b, tradeFields)
	b = mp.AppendStr(b, t.GatewayName)
	b = mp.AppendStr(b, t.Symbol)
	b = mp.AppendStr(b, t.Exchange.String())
	b = mp.AppendStr(b, t.OrderID)
	b = mp.AppendStr(b, t.TradeID)
	b = mp.AppendStr(b, t.Direction.String())
	b = mp.AppendStr(b, t.Offset.String())
	b = mp.AppendFloat(b, t.Price)
	b = mp.AppendFloat(b, t.Volume)
	return appendTime(b, t.Datetime), nil
}

// DecodeTradeFast decodes a trade, positional or map form, into t.
func DecodeTradeFast(b []byte, t *e.Trade) error {
	// The loop is written out per type: a field function passed as a value
	// would make the reader escape to the heap.
	r := mp.NewReader(b, ErrMalformed, "Trade")
	if r.PeekMap() {
		return Unmarshal(b, t)
	}
	n := r.ArrayLen()
	for i := 0; i < n && r.Err == nil; i++ {
		if i < tradeFields {
			tradeField(&r, t, i)
		} else {
			r.Skip()
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	if n < tradeFields { // an older writer: the missing fields are zero
		for z, i := zeroFrom(zeroTrade, n), n; i < tradeFields; i++ {
			tradeField(&z, t, i)
		}
	}
	return nil
}

func tradeField(r *mp.Reader, t *e.Trade, i int) {
	switch i {
	case 0:
		r.Str(&t.GatewayName)
	case 1:
		r.Str(&t.Symbol)
	case 2:
		readEnum(r, exchanges, (*uint8)(&t.Exchange))
	case 3:
		r.Str(&t.OrderID)
	case 4:
		r.Str(&t.TradeID)
	case 5:
		readEnum(r, directions, (*uint8)(&t.Direction))
	case 6:
		readEnum(r, offsets, (*uint8)(&t.Offset))
	case 7:
		t.Price = r.Float()
	case 8:
		t.Volume = r.Float()
	default:
		readTime(r, &t.Datetime)
	}
}

// enumType8 is any engine enum, for validation.
type enumType8 interface{ String() string }

func validEnum(v enumType8) error {
	if s := v.String(); strings.HasPrefix(s, "invalid(") {
		return fmt.Errorf("%w: %s is not a valid %T", ErrUnsupported, s, v)
	}
	return nil
}

// Code -> value tables for the enums, so decoding a code costs no allocation.
var (
	exchanges  = codes[e.Exchange]()
	orderTypes = codes[e.OrderType]()
	directions = codes[e.Direction]()
	offsets    = codes[e.Offset]()
	statuses   = codes[e.Status]()
)

func codes[E enumType]() map[string]uint8 {
	m := map[string]uint8{}
	for i := range 256 {
		if s := E(i).String(); !strings.HasPrefix(s, "invalid(") {
			m[s] = uint8(i)
		}
	}
	return m
}

// --- msgpack writing and reading of what the schema adds ---

// appendTime appends a time as int64 UTC nanoseconds, the zero time as nil.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0xc0)
	}
	return mp.AppendInt64(b, t.UnixNano())
}

// readTime reads int64 UTC nanoseconds, or nil for the zero time.
func readTime(r *mp.Reader, dst *time.Time) {
	if r.Err == nil && len(r.B)-r.Pos >= 9 && r.B[r.Pos] == 0xd3 { // int64 nanoseconds: one check
		*dst = time.Unix(0, int64(binary.BigEndian.Uint64(r.B[r.Pos+1:]))).UTC()
		r.Pos += 9
		return
	}
	if r.Nil() {
		*dst = time.Time{}
		return
	}
	ns := r.Int()
	if r.Err == nil {
		*dst = time.Unix(0, ns).UTC()
	}
}

// enumKeep reads an enum's code into dst through table, for a reused
// value whose current code is cur: the same code as before (a symbol's
// next tick) costs no look-up.
func enumKeep(r *mp.Reader, table map[string]uint8, dst *uint8, cur string) {
	b := r.StrBytes()
	if r.Err != nil || cur != "" && string(b) == cur {
		return
	}
	v, ok := table[string(b)]
	if !ok {
		r.Fail(fmt.Sprintf("unknown code %q", b))
		return
	}
	*dst = v
}

// readEnum reads an enum's code into dst through table.
func readEnum(r *mp.Reader, table map[string]uint8, dst *uint8) { enumKeep(r, table, dst, "") }

// tickFloatBytes is the size of a tick's 31 numbers as float64s.
const tickFloatBytes = 31 * 9

// tickFloats reads a tick's 31 numbers straight into t when all of them
// are float64s, which is what writers here send, and reports whether
// they were; otherwise it leaves the reader where it was (t's numbers are
// then overwritten by the caller).
func tickFloats(r *mp.Reader, t *e.Tick) bool {
	if r.Err != nil || len(r.B)-r.Pos < tickFloatBytes {
		return false
	}
	b := (*[tickFloatBytes]byte)(r.B[r.Pos:])
	var tags byte
	for i := 0; i < tickFloatBytes; i += 9 {
		tags |= b[i] ^ 0xcb
	}
	if tags != 0 {
		return false
	}
	t.Volume, t.Turnover, t.OpenInterest = f64at(b, 0), f64at(b, 1), f64at(b, 2)
	t.LastPrice, t.LastVolume, t.LimitUp, t.LimitDown = f64at(b, 3), f64at(b, 4), f64at(b, 5), f64at(b, 6)
	t.OpenPrice, t.HighPrice, t.LowPrice, t.PreClose = f64at(b, 7), f64at(b, 8), f64at(b, 9), f64at(b, 10)
	for k := range 5 {
		t.BidPrice[k], t.AskPrice[k] = f64at(b, 11+k), f64at(b, 16+k)
		t.BidVolume[k], t.AskVolume[k] = f64at(b, 21+k), f64at(b, 26+k)
	}
	r.Pos += tickFloatBytes
	return true
}

// f64at is the i-th float64 of a run, past its type byte.
func f64at(b *[tickFloatBytes]byte, i int) float64 {
	return math.Float64frombits(binary.BigEndian.Uint64(b[9*i+1 : 9*i+9]))
}

// putF64 stores the i-th float64 of a run, with its type byte.
func putF64(b *[tickFloatBytes]byte, i int, v float64) {
	b[9*i] = 0xcb
	binary.BigEndian.PutUint64(b[9*i+1:9*i+9], math.Float64bits(v))
}
