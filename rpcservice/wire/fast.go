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
	b = appendArrayLen(b, tickFields)
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
	r := reader{b: b, typ: "Tick"}
	n, isMap := r.header()
	if r.err != nil || isMap {
		return r.mapForm(isMap, b, t)
	}
	if n == tickFields { // the common case, straight through
		r.str(&t.GatewayName)
		r.str(&t.Symbol)
		r.enumKeep(exchanges, (*uint8)(&t.Exchange), t.Exchange.String())
		r.time(&t.Datetime)
		r.str(&t.Name)
		if !r.tickFloats(t) { // some numbers are not float64s (another writer)
			for i := 5; i < 36; i++ {
				tickField(&r, t, i)
			}
		}
		r.time(&t.Localtime)
		return r.end()
	}
	for i := 0; i < n && r.err == nil; i++ {
		if i < tickFields {
			tickField(&r, t, i)
		} else {
			r.skip()
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	for z, i := zeroFrom(zeroTick, n), n; i < tickFields; i++ {
		tickField(&z, t, i)
	}
	return nil
}

func tickField(r *reader, t *e.Tick, i int) {
	switch {
	case i == 0:
		r.str(&t.GatewayName)
	case i == 1:
		r.str(&t.Symbol)
	case i == 2:
		r.enum(exchanges, (*uint8)(&t.Exchange))
	case i == 3:
		r.time(&t.Datetime)
	case i == 4:
		r.str(&t.Name)
	case i < 16:
		*[...]*float64{&t.Volume, &t.Turnover, &t.OpenInterest, &t.LastPrice, &t.LastVolume, &t.LimitUp,
			&t.LimitDown, &t.OpenPrice, &t.HighPrice, &t.LowPrice, &t.PreClose}[i-5] = r.f64()
	case i < 36:
		k := i - 16
		[...]*[5]float64{&t.BidPrice, &t.AskPrice, &t.BidVolume, &t.AskVolume}[k/5][k%5] = r.f64()
	default:
		r.time(&t.Localtime)
	}
}

// mapForm decodes the map form, or returns the header's error.
func (r *reader) mapForm(isMap bool, b []byte, v any) error {
	if isMap {
		return Unmarshal(b, v)
	}
	return r.err
}

// zeroFrom is a reader at field n of a zero value's positional form: it
// supplies the fields a shorter array leaves out.
func zeroFrom(zero []byte, n int) reader {
	z := reader{b: zero}
	z.header()
	for range n {
		z.skip()
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
	b = appendArrayLen(b, orderFields)
	b = mp.AppendStr(b, o.GatewayName)
	b = mp.AppendStr(b, o.Symbol)
	b = mp.AppendStr(b, o.Exchange.String())
	b = mp.AppendStr(b, o.OrderID)
	b = mp.AppendStr(b, o.Type.String())
	b = mp.AppendStr(b, o.Direction.String())
	b = mp.AppendStr(b, o.Offset.String())
	b = appendF64(b, o.Price)
	b = appendF64(b, o.Volume)
	b = appendF64(b, o.Traded)
	b = mp.AppendStr(b, o.Status.String())
	b = appendTime(b, o.Datetime)
	b = mp.AppendStr(b, o.Reference)
	return mp.AppendStr(b, o.Reason), nil
}

// DecodeOrderFast decodes an order, positional or map form, into o.
func DecodeOrderFast(b []byte, o *e.Order) error {
	// The loop is written out per type: a field function passed as a value
	// would make the reader escape to the heap.
	r := reader{b: b, typ: "Order"}
	n, isMap := r.header()
	if r.err != nil || isMap {
		return r.mapForm(isMap, b, o)
	}
	for i := 0; i < n && r.err == nil; i++ {
		if i < orderFields {
			orderField(&r, o, i)
		} else {
			r.skip()
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	for z, i := zeroFrom(zeroOrder, n), n; i < orderFields; i++ {
		orderField(&z, o, i)
	}
	return nil
}

func orderField(r *reader, o *e.Order, i int) {
	switch i {
	case 0:
		r.str(&o.GatewayName)
	case 1:
		r.str(&o.Symbol)
	case 2:
		r.enum(exchanges, (*uint8)(&o.Exchange))
	case 3:
		r.str(&o.OrderID)
	case 4:
		r.enum(orderTypes, (*uint8)(&o.Type))
	case 5:
		r.enum(directions, (*uint8)(&o.Direction))
	case 6:
		r.enum(offsets, (*uint8)(&o.Offset))
	case 7:
		o.Price = r.f64()
	case 8:
		o.Volume = r.f64()
	case 9:
		o.Traded = r.f64()
	case 10:
		r.enum(statuses, (*uint8)(&o.Status))
	case 11:
		r.time(&o.Datetime)
	case 12:
		r.str(&o.Reference)
	default:
		r.str(&o.Reason)
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
	b = appendArrayLen(b, tradeFields)
	b = mp.AppendStr(b, t.GatewayName)
	b = mp.AppendStr(b, t.Symbol)
	b = mp.AppendStr(b, t.Exchange.String())
	b = mp.AppendStr(b, t.OrderID)
	b = mp.AppendStr(b, t.TradeID)
	b = mp.AppendStr(b, t.Direction.String())
	b = mp.AppendStr(b, t.Offset.String())
	b = appendF64(b, t.Price)
	b = appendF64(b, t.Volume)
	return appendTime(b, t.Datetime), nil
}

// DecodeTradeFast decodes a trade, positional or map form, into t.
func DecodeTradeFast(b []byte, t *e.Trade) error {
	// The loop is written out per type: a field function passed as a value
	// would make the reader escape to the heap.
	r := reader{b: b, typ: "Trade"}
	n, isMap := r.header()
	if r.err != nil || isMap {
		return r.mapForm(isMap, b, t)
	}
	for i := 0; i < n && r.err == nil; i++ {
		if i < tradeFields {
			tradeField(&r, t, i)
		} else {
			r.skip()
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	for z, i := zeroFrom(zeroTrade, n), n; i < tradeFields; i++ {
		tradeField(&z, t, i)
	}
	return nil
}

func tradeField(r *reader, t *e.Trade, i int) {
	switch i {
	case 0:
		r.str(&t.GatewayName)
	case 1:
		r.str(&t.Symbol)
	case 2:
		r.enum(exchanges, (*uint8)(&t.Exchange))
	case 3:
		r.str(&t.OrderID)
	case 4:
		r.str(&t.TradeID)
	case 5:
		r.enum(directions, (*uint8)(&t.Direction))
	case 6:
		r.enum(offsets, (*uint8)(&t.Offset))
	case 7:
		t.Price = r.f64()
	case 8:
		t.Volume = r.f64()
	default:
		r.time(&t.Datetime)
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

// --- msgpack writing ---

func appendArrayLen(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x90|byte(n))
	}
	return append(b, 0xdc, byte(n>>8), byte(n))
}

func appendF64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0xc0)
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(t.UnixNano()))
}

// --- msgpack reading ---

// reader walks a msgpack byte slice; the first error sticks.
type reader struct {
	b   []byte
	pos int
	err error
	typ string
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s at byte %d", ErrMalformed, r.typ, what, r.pos)
	}
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if len(r.b)-r.pos < n {
		r.fail("truncated")
		return false
	}
	return true
}

func (r *reader) u8() byte {
	if !r.need(1) {
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) uN(n int) uint64 {
	if !r.need(n) {
		return 0
	}
	if n == 8 {
		v := binary.BigEndian.Uint64(r.b[r.pos:])
		r.pos += 8
		return v
	}
	var v uint64
	for _, c := range r.b[r.pos : r.pos+n] {
		v = v<<8 | uint64(c)
	}
	r.pos += n
	return v
}

// header reads an array or map header.
func (r *reader) header() (n int, isMap bool) {
	if !r.need(1) {
		return 0, false
	}
	c := r.b[r.pos]
	switch {
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return 0, true
	case c&0xf0 == 0x90:
		r.pos++
		return int(c & 0x0f), false
	case c == 0xdc:
		r.pos++
		return int(r.uN(2)), false
	case c == 0xdd:
		r.pos++
		return int(r.uN(4)), false
	}
	r.fail(fmt.Sprintf("want an array or a map, got 0x%02x", c))
	return 0, false
}

// strBytes reads a string (or bin) and returns a view of its bytes.
func (r *reader) strBytes() []byte {
	if r.err == nil && r.pos < len(r.b) { // a short string whole: one check
		if c := r.b[r.pos]; c&0xe0 == 0xa0 {
			if end := r.pos + 1 + int(c&0x1f); end <= len(r.b) {
				s := r.b[r.pos+1 : end]
				r.pos = end
				return s
			}
		}
	}
	c := r.u8()
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n = int(r.uN(1))
	case c == 0xda || c == 0xc5:
		n = int(r.uN(2))
	case c == 0xdb || c == 0xc6:
		n = int(r.uN(4))
	case c == 0xc0: // nil: empty
		return nil
	default:
		r.pos--
		r.fail(fmt.Sprintf("want a string, got 0x%02x", c))
		return nil
	}
	if n < 0 || !r.need(n) {
		r.fail("truncated string")
		return nil
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

// str sets *dst to the next string, keeping *dst if it is equal.
func (r *reader) str(dst *string) {
	b := r.strBytes()
	if r.err == nil && string(b) != *dst {
		*dst = string(b)
	}
}

// enumKeep is enum for a reused value whose current code is cur: the
// same code as before (a symbol's next tick) costs no lookup.
func (r *reader) enumKeep(table map[string]uint8, dst *uint8, cur string) {
	b := r.strBytes()
	if r.err != nil || cur != "" && string(b) == cur {
		return
	}
	v, ok := table[string(b)]
	if !ok {
		r.fail(fmt.Sprintf("unknown code %q", b))
		return
	}
	*dst = v
}

// enum sets *dst to the next string's code in table.
func (r *reader) enum(table map[string]uint8, dst *uint8) { r.enumKeep(table, dst, "") }

func (r *reader) int64() int64 {
	c := r.u8()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	case c == 0xcc:
		return int64(r.uN(1))
	case c == 0xcd:
		return int64(r.uN(2))
	case c == 0xce:
		return int64(r.uN(4))
	case c == 0xcf:
		v := r.uN(8)
		if v > math.MaxInt64 {
			r.fail("integer overflows int64")
		}
		return int64(v)
	case c == 0xd0:
		return int64(int8(r.uN(1)))
	case c == 0xd1:
		return int64(int16(r.uN(2)))
	case c == 0xd2:
		return int64(int32(r.uN(4)))
	case c == 0xd3:
		return int64(r.uN(8))
	}
	if r.err == nil {
		r.pos--
		r.fail(fmt.Sprintf("want an integer, got 0x%02x", c))
	}
	return 0
}

// tickFloatBytes is the size of a tick's 31 numbers as float64s.
const tickFloatBytes = 31 * 9

// tickFloats reads a tick's 31 numbers straight into t when all of them
// are float64s, which is what writers here send, and reports whether
// they were; otherwise it leaves the reader where it was (t's numbers are
// then overwritten by the caller).
func (r *reader) tickFloats(t *e.Tick) bool {
	if r.err != nil || len(r.b)-r.pos < tickFloatBytes {
		return false
	}
	b := (*[tickFloatBytes]byte)(r.b[r.pos:])
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
	r.pos += tickFloatBytes
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

// f64 reads a float64, float32 or integer.
func (r *reader) f64() float64 {
	if r.err == nil && len(r.b)-r.pos >= 9 && r.b[r.pos] == 0xcb {
		v := math.Float64frombits(binary.BigEndian.Uint64(r.b[r.pos+1:]))
		r.pos += 9
		return v
	}
	if !r.need(1) {
		return 0
	}
	switch c := r.b[r.pos]; c {
	case 0xcb:
		r.pos++
		return math.Float64frombits(r.uN(8))
	case 0xca:
		r.pos++
		return float64(math.Float32frombits(uint32(r.uN(4))))
	}
	return float64(r.int64())
}

// time reads int64 UTC nanoseconds, or nil for the zero time.
func (r *reader) time(dst *time.Time) {
	if r.err == nil && len(r.b)-r.pos >= 9 && r.b[r.pos] == 0xd3 { // int64 nanoseconds: one check
		*dst = time.Unix(0, int64(binary.BigEndian.Uint64(r.b[r.pos+1:]))).UTC()
		r.pos += 9
		return
	}
	if !r.need(1) {
		return
	}
	if r.b[r.pos] == 0xc0 {
		r.pos++
		*dst = time.Time{}
		return
	}
	ns := r.int64()
	if r.err == nil {
		*dst = time.Unix(0, ns).UTC()
	}
}

// skip passes over one value of any type.
func (r *reader) skip() {
	c := r.u8()
	if r.err != nil {
		return
	}
	var n, elems int
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c&0xf0 == 0x90:
		elems = int(c & 0x0f)
	case c&0xf0 == 0x80:
		elems = 2 * int(c&0x0f)
	case c == 0xcc || c == 0xd0:
		n = 1
	case c == 0xcd || c == 0xd1:
		n = 2
	case c == 0xce || c == 0xd2 || c == 0xca:
		n = 4
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		n = 8
	case c == 0xd9 || c == 0xc4:
		n = int(r.uN(1))
	case c == 0xda || c == 0xc5:
		n = int(r.uN(2))
	case c == 0xdb || c == 0xc6:
		n = int(r.uN(4))
	case c == 0xdc:
		elems = int(r.uN(2))
	case c == 0xdd:
		elems = int(r.uN(4))
	case c == 0xde:
		elems = 2 * int(r.uN(2))
	case c == 0xdf:
		elems = 2 * int(r.uN(4))
	case c == 0xd4:
		n = 2
	case c == 0xd5:
		n = 3
	case c == 0xd6:
		n = 5
	case c == 0xd7:
		n = 9
	case c == 0xd8:
		n = 17
	case c == 0xc7:
		n = int(r.uN(1)) + 1
	case c == 0xc8:
		n = int(r.uN(2)) + 1
	case c == 0xc9:
		n = int(r.uN(4)) + 1
	default:
		r.pos--
		r.fail(fmt.Sprintf("invalid byte 0x%02x", c))
		return
	}
	if n < 0 || elems < 0 || !r.need(n) {
		r.fail("truncated")
		return
	}
	r.pos += n
	if elems > len(r.b)-r.pos { // each element takes at least a byte
		r.fail("truncated")
		return
	}
	for range elems {
		r.skip()
	}
}

func (r *reader) end() error {
	if r.err == nil && r.pos != len(r.b) {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)-r.pos))
	}
	return r.err
}
