package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	e "github.com/vnrpc/vnrpc/engine"

	"github.com/vnrpc/vnrpc/internal/mp"
)

// Method names of the RPC service, as vn.py's RpcEngine registers them
// (plus the quote, gateway-name, exchange and status methods it lacks).
// Arguments travel as a msgpack array of the parameters in the order
// listed; an object parameter is its map form.
const (
	MethodSubscribe          = "subscribe"             // [SubscribeRequest, gateway_name] -> nil
	MethodSendOrder          = "send_order"            // [OrderRequest, gateway_name] -> vt_orderid
	MethodCancelOrder        = "cancel_order"          // [CancelRequest, gateway_name] -> nil
	MethodSendQuote          = "send_quote"            // [QuoteRequest, gateway_name] -> vt_quoteid
	MethodCancelQuote        = "cancel_quote"          // [CancelRequest, gateway_name] -> nil
	MethodQueryHistory       = "query_history"         // [HistoryRequest, gateway_name] -> [Bar]
	MethodGetTick            = "get_tick"              // [vt_symbol] -> Tick or nil
	MethodGetOrder           = "get_order"             // [vt_orderid] -> Order or nil
	MethodGetTrade           = "get_trade"             // [vt_tradeid] -> Trade or nil
	MethodGetPosition        = "get_position"          // [vt_positionid] -> Position or nil
	MethodGetAccount         = "get_account"           // [vt_accountid] -> Account or nil
	MethodGetContract        = "get_contract"          // [vt_symbol] -> Contract or nil
	MethodGetQuote           = "get_quote"             // [vt_quoteid] -> Quote or nil
	MethodGetAllTicks        = "get_all_ticks"         // [] -> [Tick]
	MethodGetAllOrders       = "get_all_orders"        // [] -> [Order]
	MethodGetAllTrades       = "get_all_trades"        // [] -> [Trade]
	MethodGetAllPositions    = "get_all_positions"     // [] -> [Position]
	MethodGetAllAccounts     = "get_all_accounts"      // [] -> [Account]
	MethodGetAllContracts    = "get_all_contracts"     // [] -> [Contract]
	MethodGetAllQuotes       = "get_all_quotes"        // [] -> [Quote]
	MethodGetAllActiveOrders = "get_all_active_orders" // [] -> [Order]
	MethodGetAllActiveQuotes = "get_all_active_quotes" // [] -> [Quote]
	MethodGetAllGatewayNames = "get_all_gateway_names" // [] -> [string]
	MethodGetAllExchanges    = "get_all_exchanges"     // [] -> [string] (codes)
	MethodStatus             = "status"                // [] -> Status
)

// Event record types in the ring and on the LAN. Tick, order and trade
// payloads are the positional form; position, account, contract, quote
// and the two logs the map form; any other event (another app's) is
// TypeOther: [event type string, payload msgpack by reflection].
const (
	TypeTick     uint32 = 1
	TypeOrder    uint32 = 2
	TypeTrade    uint32 = 3
	TypePosition uint32 = 4
	TypeAccount  uint32 = 5
	TypeContract uint32 = 6
	TypeQuote    uint32 = 7
	TypeLog      uint32 = 8 // eLog
	TypeRpcLog   uint32 = 9 // eRpcLog
	TypeOther    uint32 = 100
)

// EventRpcLog is the RPC service's own log event (vn.py's EVENT_RPC_LOG).
const EventRpcLog = "eRpcLog"

// Status answers MethodStatus.
type Status struct {
	Epoch     uint64   `msgpack:"epoch"`
	Gateways  []string `msgpack:"gateways"`
	Contracts int      `msgpack:"contracts"`
	Orders    int      `msgpack:"orders"`
	Trades    int      `msgpack:"trades"`
	NextSeq   uint64   `msgpack:"next_seq"`
	Clients   int      `msgpack:"clients"`
	Version   string   `msgpack:"version"`
}

// generalTypes are the per-object event types whose specific forms
// ("eTick.rb2501.SHFE") a gateway puts beside the general ones. Only the
// general event is published: a client's gateway regenerates both.
var generalTypes = []string{e.EventTick, e.EventTrade, e.EventOrder, e.EventPosition, e.EventAccount, e.EventQuote, e.EventContract}

// Publishable reports whether an event of type typ is published: not the
// timer, and not the specific form of a per-object event.
func Publishable(typ string) bool {
	if typ == e.EventTimer {
		return false
	}
	for _, g := range generalTypes {
		if len(typ) > len(g) && strings.HasPrefix(typ, g) {
			return false
		}
	}
	return true
}

// AppendEvent appends the payload of ev to b and returns its record type.
// An event whose data cannot be encoded is an error (the caller logs it and
// goes on).
func AppendEvent(b []byte, ev e.Event) (uint32, []byte, error) {
	switch d := ev.Data.(type) {
	case *e.Tick:
		if ev.Type == e.EventTick {
			b, err := AppendTick(b, d)
			return TypeTick, b, err
		}
	case *e.Order:
		if ev.Type == e.EventOrder {
			b, err := AppendOrder(b, d)
			return TypeOrder, b, err
		}
	case *e.Trade:
		if ev.Type == e.EventTrade {
			b, err := AppendTrade(b, d)
			return TypeTrade, b, err
		}
	}
	typ := map[string]uint32{e.EventPosition: TypePosition, e.EventAccount: TypeAccount, e.EventContract: TypeContract,
		e.EventQuote: TypeQuote, e.EventLog: TypeLog, EventRpcLog: TypeRpcLog}[ev.Type]
	buf := bytes.NewBuffer(b)
	enc := msgpack.NewEncoder(buf)
	if typ != 0 {
		if err := Encode(enc, ev.Data); err != nil {
			return 0, b, fmt.Errorf("event %s: %w", ev.Type, err)
		}
		return typ, buf.Bytes(), nil
	}
	if err := enc.EncodeArrayLen(2); err != nil {
		return 0, b, err
	}
	if err := enc.EncodeString(ev.Type); err != nil {
		return 0, b, err
	}
	if err := encodeAny(enc, ev.Data); err != nil {
		return 0, b, fmt.Errorf("event %s: %w", ev.Type, err)
	}
	return TypeOther, buf.Bytes(), nil
}

// encodeAny encodes an engine object in its wire form, anything else by
// reflection; a panic in a custom encoder is an error.
func encodeAny(enc *msgpack.Encoder, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %T: %v", ErrUnsupported, v, p)
		}
	}()
	if Encode(enc, v) == nil {
		return nil
	}
	return enc.Encode(v)
}

// DecodeEvent decodes a published record into a fresh event. A TypeOther
// payload's data decodes as generic msgpack (maps, slices, numbers).
func DecodeEvent(typ uint32, payload []byte) (e.Event, error) {
	var v any
	var et string
	switch typ {
	case TypeTick:
		t := &e.Tick{}
		return e.Event{Type: e.EventTick, Data: t}, DecodeTickFast(payload, t)
	case TypeOrder:
		o := &e.Order{}
		return e.Event{Type: e.EventOrder, Data: o}, DecodeOrderFast(payload, o)
	case TypeTrade:
		t := &e.Trade{}
		return e.Event{Type: e.EventTrade, Data: t}, DecodeTradeFast(payload, t)
	case TypePosition:
		v, et = &e.Position{}, e.EventPosition
	case TypeAccount:
		v, et = &e.Account{}, e.EventAccount
	case TypeContract:
		v, et = &e.Contract{}, e.EventContract
	case TypeQuote:
		v, et = &e.Quote{}, e.EventQuote
	case TypeLog:
		v, et = &e.Log{}, e.EventLog
	case TypeRpcLog:
		v, et = &e.Log{}, EventRpcLog
	case TypeOther:
		var pair struct {
			_msgpack struct{} `msgpack:",as_array"`
			Type     string
			Data     any
		}
		if err := mp.Bounded(payload); err != nil {
			return e.Event{}, fmt.Errorf("%w: event: %v", ErrMalformed, err)
		}
		if err := msgpack.Unmarshal(payload, &pair); err != nil {
			return e.Event{}, fmt.Errorf("%w: event: %v", ErrMalformed, err)
		}
		return e.Event{Type: pair.Type, Data: pair.Data}, nil
	default:
		return e.Event{}, fmt.Errorf("%w: unknown event record type %d", ErrMalformed, typ)
	}
	return e.Event{Type: et, Data: v}, Unmarshal(payload, v)
}

// EncodeArgs encodes call parameters: strings, and engine objects (map form).
func EncodeArgs(params ...any) ([]byte, error) {
	if len(params) == 2 { // send_order's and cancel_order's, by hand (args.go)
		if gw, ok := params[1].(string); ok {
			var b []byte
			ok := false
			switch req := params[0].(type) {
			case *e.OrderRequest:
				b, ok = appendOrderRequestArgs(make([]byte, 0, 128), req, gw)
			case *e.CancelRequest:
				b, ok = appendCancelArgs(make([]byte, 0, 64), req, gw)
			}
			if ok {
				return b, nil
			}
		}
	}
	return encodeArgs(params...)
}

// encodeArgs is EncodeArgs's general path.
func encodeArgs(params ...any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := enc.EncodeArrayLen(len(params)); err != nil {
		return nil, err
	}
	for _, p := range params {
		var err error
		if s, ok := p.(string); ok {
			err = enc.EncodeString(s)
		} else {
			err = Encode(enc, p)
		}
		if err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// DecodeArgs decodes call parameters into ptrs (*string or engine object
// pointers). Fewer parameters than ptrs is an error; more are ignored.
func DecodeArgs(b []byte, ptrs ...any) error {
	if err := mp.Bounded(b); err != nil {
		return fmt.Errorf("%w: arguments: %v", ErrMalformed, err)
	}
	if len(ptrs) == 2 { // send_order's and cancel_order's, by hand (args.go)
		if gw, ok := ptrs[1].(*string); ok {
			switch req := ptrs[0].(type) {
			case *e.OrderRequest:
				if decodeOrderRequestArgs(b, req, gw) {
					return nil
				}
			case *e.CancelRequest:
				if decodeCancelArgs(b, req, gw) {
					return nil
				}
			}
		}
	}
	return decodeArgs(b, ptrs...)
}

// decodeArgs is DecodeArgs's general path.
func decodeArgs(b []byte, ptrs ...any) error {
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("%w: arguments: %v", ErrMalformed, err)
	}
	if n < len(ptrs) {
		return fmt.Errorf("%w: %d arguments, want %d", ErrMalformed, n, len(ptrs))
	}
	for i, p := range ptrs {
		if s, ok := p.(*string); ok {
			if *s, err = dec.DecodeString(); err != nil {
				return fmt.Errorf("%w: argument %d: %v", ErrMalformed, i+1, err)
			}
			continue
		}
		if err := Decode(dec, p); err != nil {
			return fmt.Errorf("argument %d: %w", i+1, err)
		}
	}
	return nil
}

// EncodeOne encodes one engine object, or nil when v is a nil pointer.
func EncodeOne[T any](v *T) ([]byte, error) {
	if v == nil {
		return []byte{0xc0}, nil
	}
	return Marshal(v)
}

// DecodeOne decodes EncodeOne's output; nil is (nil, nil).
func DecodeOne[T any](b []byte) (*T, error) {
	if len(b) == 1 && b[0] == 0xc0 {
		return nil, nil
	}
	v := new(T)
	if err := Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// EncodeList encodes engine objects as an array of their map forms.
func EncodeList[T any](items []*T) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := enc.EncodeArrayLen(len(items)); err != nil {
		return nil, err
	}
	for i, it := range items {
		if err := Encode(enc, it); err != nil {
			return nil, err
		}
		if i == 0 && len(items) > 64 {
			// A long list (a history query's bars) is sized once from its
			// first item, with room to spare, instead of doubling: a
			// hundred thousand bars would otherwise allocate twice their
			// size on the way.
			buf.Grow(buf.Len() * (len(items) - 1) * 9 / 8)
		}
	}
	return buf.Bytes(), nil
}

// DecodeList decodes EncodeList's output.
func DecodeList[T any](b []byte) ([]*T, error) {
	if err := mp.Bounded(b); err != nil {
		return nil, fmt.Errorf("%w: list: %v", ErrMalformed, err)
	}
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("%w: list: %v", ErrMalformed, err)
	}
	if n < 0 || n > len(b) {
		return nil, fmt.Errorf("%w: list of %d", ErrMalformed, n)
	}
	out := make([]*T, 0, n)
	for range n {
		v := new(T)
		if err := Decode(dec, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	return out, nil
}

// Bounds on the strings a client sends, in bytes. vn.py's symbols and
// ids are short; a request with a longer one is refused with
// CodeBadRequest and changes nothing, so no client can make the server
// keep (and send to every other client) megabytes per object.
const (
	MaxSymbolLen    = 64  // a symbol, a gateway name
	MaxIDLen        = 64  // a gateway's order or quote id (cancel requests)
	MaxReferenceLen = 256 // an order's or quote's reference
	MaxVtIDLen      = 192 // vt_symbol, vt_orderid, vt_tradeid, vt_positionid, vt_accountid, vt_quoteid
)

// CheckLen returns an error naming what s is when it is longer than max
// bytes.
func CheckLen(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s of %d bytes: at most %d", what, len(s), max)
	}
	return nil
}

// CheckRequest checks the strings of a request object a client sent
// (SubscribeRequest, OrderRequest, CancelRequest, QuoteRequest,
// HistoryRequest) against the bounds above.
func CheckRequest(v any) error {
	switch r := v.(type) {
	case *e.SubscribeRequest:
		return CheckLen("symbol", r.Symbol, MaxSymbolLen)
	case *e.OrderRequest:
		return errors.Join(CheckLen("symbol", r.Symbol, MaxSymbolLen), CheckLen("reference", r.Reference, MaxReferenceLen))
	case *e.CancelRequest:
		return errors.Join(CheckLen("symbol", r.Symbol, MaxSymbolLen), CheckLen("orderid", r.OrderID, MaxIDLen))
	case *e.QuoteRequest:
		return errors.Join(CheckLen("symbol", r.Symbol, MaxSymbolLen), CheckLen("reference", r.Reference, MaxReferenceLen))
	case *e.HistoryRequest:
		return CheckLen("symbol", r.Symbol, MaxSymbolLen)
	}
	return fmt.Errorf("%w: %T is not a request", ErrUnsupported, v)
}
