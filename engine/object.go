package engine

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Data objects follow vn.py's vnpy.trader.object field for field. The struct
// tags name each field on the wire (rpcservice/wire encodes them); derived vn.py
// attributes (vt_symbol, vt_orderid …) are methods here, recomputed from the
// fields, so a gateway that renames an object never leaves a stale id behind.
//
// Objects are values. Once an object has been put into an event it is shared
// by every handler and must not be modified: copy it first.

// Tick is a market data snapshot: last trade and 5 levels of the book.
type Tick struct {
	GatewayName  string    `msgpack:"gateway_name"`
	Symbol       string    `msgpack:"symbol"`
	Exchange     Exchange  `msgpack:"exchange"`
	Datetime     time.Time `msgpack:"datetime"`
	Name         string    `msgpack:"name"`
	Volume       float64   `msgpack:"volume"`
	Turnover     float64   `msgpack:"turnover"`
	OpenInterest float64   `msgpack:"open_interest"`
	LastPrice    float64   `msgpack:"last_price"`
	LastVolume   float64   `msgpack:"last_volume"`
	LimitUp      float64   `msgpack:"limit_up"`
	LimitDown    float64   `msgpack:"limit_down"`
	OpenPrice    float64   `msgpack:"open_price"`
	HighPrice    float64   `msgpack:"high_price"`
	LowPrice     float64   `msgpack:"low_price"`
	PreClose     float64   `msgpack:"pre_close"`
	// Book levels 1..5 are indexes 0..4 (vn.py's bid_price_1 … ask_volume_5).
	BidPrice  [5]float64 `msgpack:"bid_price"`
	AskPrice  [5]float64 `msgpack:"ask_price"`
	BidVolume [5]float64 `msgpack:"bid_volume"`
	AskVolume [5]float64 `msgpack:"ask_volume"`
	Localtime time.Time  `msgpack:"localtime"`
}

func (t *Tick) VtSymbol() string { return VtSymbol(t.Symbol, t.Exchange) }

// Bar is one OHLC bar.
type Bar struct {
	GatewayName  string    `msgpack:"gateway_name"`
	Symbol       string    `msgpack:"symbol"`
	Exchange     Exchange  `msgpack:"exchange"`
	Datetime     time.Time `msgpack:"datetime"`
	Interval     Interval  `msgpack:"interval"`
	Volume       float64   `msgpack:"volume"`
	Turnover     float64   `msgpack:"turnover"`
	OpenInterest float64   `msgpack:"open_interest"`
	OpenPrice    float64   `msgpack:"open_price"`
	HighPrice    float64   `msgpack:"high_price"`
	LowPrice     float64   `msgpack:"low_price"`
	ClosePrice   float64   `msgpack:"close_price"`
}

func (b *Bar) VtSymbol() string { return VtSymbol(b.Symbol, b.Exchange) }

// Order is the latest state of one order.
type Order struct {
	GatewayName string    `msgpack:"gateway_name"`
	Symbol      string    `msgpack:"symbol"`
	Exchange    Exchange  `msgpack:"exchange"`
	OrderID     string    `msgpack:"orderid"`
	Type        OrderType `msgpack:"type"`
	Direction   Direction `msgpack:"direction"`
	Offset      Offset    `msgpack:"offset"`
	Price       float64   `msgpack:"price"`
	Volume      float64   `msgpack:"volume"`
	Traded      float64   `msgpack:"traded"`
	Status      Status    `msgpack:"status"`
	Datetime    time.Time `msgpack:"datetime"`
	Reference   string    `msgpack:"reference"`
	// Reason says why an order was rejected or cancelled by the exchange
	// (empty otherwise). vn.py only logs it; we carry it with the order.
	Reason string `msgpack:"reason"`
}

func (o *Order) VtSymbol() string  { return VtSymbol(o.Symbol, o.Exchange) }
func (o *Order) VtOrderID() string { return o.GatewayName + "." + o.OrderID }

// IsActive reports whether the order may still trade.
func (o *Order) IsActive() bool { return o.Status.Active() }

// CancelRequest builds the request that cancels this order.
func (o *Order) CancelRequest() CancelRequest {
	return CancelRequest{OrderID: o.OrderID, Symbol: o.Symbol, Exchange: o.Exchange}
}

// Trade is one fill of an order.
type Trade struct {
	GatewayName string    `msgpack:"gateway_name"`
	Symbol      string    `msgpack:"symbol"`
	Exchange    Exchange  `msgpack:"exchange"`
	OrderID     string    `msgpack:"orderid"`
	TradeID     string    `msgpack:"tradeid"`
	Direction   Direction `msgpack:"direction"`
	Offset      Offset    `msgpack:"offset"`
	Price       float64   `msgpack:"price"`
	Volume      float64   `msgpack:"volume"`
	Datetime    time.Time `msgpack:"datetime"`
}

func (t *Trade) VtSymbol() string  { return VtSymbol(t.Symbol, t.Exchange) }
func (t *Trade) VtOrderID() string { return t.GatewayName + "." + t.OrderID }
func (t *Trade) VtTradeID() string { return t.GatewayName + "." + t.TradeID }

// Position is the holding of one contract in one direction.
type Position struct {
	GatewayName string    `msgpack:"gateway_name"`
	Symbol      string    `msgpack:"symbol"`
	Exchange    Exchange  `msgpack:"exchange"`
	Direction   Direction `msgpack:"direction"`
	Volume      float64   `msgpack:"volume"`
	Frozen      float64   `msgpack:"frozen"`
	Price       float64   `msgpack:"price"`
	Pnl         float64   `msgpack:"pnl"`
	YdVolume    float64   `msgpack:"yd_volume"`
}

func (p *Position) VtSymbol() string { return VtSymbol(p.Symbol, p.Exchange) }

// VtPositionID is gateway.vt_symbol.DIRECTION, e.g. "SIM.rb2601.SHFE.LONG".
func (p *Position) VtPositionID() string {
	return p.GatewayName + "." + p.VtSymbol() + "." + p.Direction.String()
}

// Account is the funds of one trading account.
type Account struct {
	GatewayName string  `msgpack:"gateway_name"`
	AccountID   string  `msgpack:"accountid"`
	Balance     float64 `msgpack:"balance"`
	Frozen      float64 `msgpack:"frozen"`
}

// Available is Balance - Frozen.
func (a *Account) Available() float64  { return a.Balance - a.Frozen }
func (a *Account) VtAccountID() string { return a.GatewayName + "." + a.AccountID }

// Log is a log line from a gateway, an app or the engine.
type Log struct {
	GatewayName string    `msgpack:"gateway_name"`
	Msg         string    `msgpack:"msg"`
	Level       int       `msgpack:"level"` // Python logging levels: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR
	Time        time.Time `msgpack:"time"`
}

// Log levels, as Python's logging module numbers them.
const (
	LogDebug   = 10
	LogInfo    = 20
	LogWarning = 30
	LogError   = 40
)

// Contract is the static description of a tradable instrument.
type Contract struct {
	GatewayName      string     `msgpack:"gateway_name"`
	Symbol           string     `msgpack:"symbol"`
	Exchange         Exchange   `msgpack:"exchange"`
	Name             string     `msgpack:"name"`
	Product          Product    `msgpack:"product"`
	Size             float64    `msgpack:"size"`
	Pricetick        float64    `msgpack:"pricetick"`
	MinVolume        float64    `msgpack:"min_volume"`
	MaxVolume        float64    `msgpack:"max_volume"` // 0: no maximum (vn.py None)
	StopSupported    bool       `msgpack:"stop_supported"`
	NetPosition      bool       `msgpack:"net_position"`
	HistoryData      bool       `msgpack:"history_data"`
	OptionStrike     float64    `msgpack:"option_strike"`
	OptionUnderlying string     `msgpack:"option_underlying"` // a vt_symbol
	OptionType       OptionType `msgpack:"option_type"`
	OptionListed     time.Time  `msgpack:"option_listed"`
	OptionExpiry     time.Time  `msgpack:"option_expiry"`
	OptionPortfolio  string     `msgpack:"option_portfolio"`
	OptionIndex      string     `msgpack:"option_index"`
}

func (c *Contract) VtSymbol() string { return VtSymbol(c.Symbol, c.Exchange) }

// Quote is the latest state of one two-sided quote.
type Quote struct {
	GatewayName string    `msgpack:"gateway_name"`
	Symbol      string    `msgpack:"symbol"`
	Exchange    Exchange  `msgpack:"exchange"`
	QuoteID     string    `msgpack:"quoteid"`
	BidPrice    float64   `msgpack:"bid_price"`
	BidVolume   int64     `msgpack:"bid_volume"`
	AskPrice    float64   `msgpack:"ask_price"`
	AskVolume   int64     `msgpack:"ask_volume"`
	BidOffset   Offset    `msgpack:"bid_offset"`
	AskOffset   Offset    `msgpack:"ask_offset"`
	Status      Status    `msgpack:"status"`
	Datetime    time.Time `msgpack:"datetime"`
	Reference   string    `msgpack:"reference"`
}

func (q *Quote) VtSymbol() string  { return VtSymbol(q.Symbol, q.Exchange) }
func (q *Quote) VtQuoteID() string { return q.GatewayName + "." + q.QuoteID }
func (q *Quote) IsActive() bool    { return q.Status.Active() }

// CancelRequest builds the request that cancels this quote (its OrderID is the quote id).
func (q *Quote) CancelRequest() CancelRequest {
	return CancelRequest{OrderID: q.QuoteID, Symbol: q.Symbol, Exchange: q.Exchange}
}

// SubscribeRequest asks a gateway for market data of one contract.
type SubscribeRequest struct {
	Symbol   string   `msgpack:"symbol"`
	Exchange Exchange `msgpack:"exchange"`
}

func (r *SubscribeRequest) VtSymbol() string { return VtSymbol(r.Symbol, r.Exchange) }

// OrderRequest asks a gateway to send an order.
type OrderRequest struct {
	Symbol    string    `msgpack:"symbol"`
	Exchange  Exchange  `msgpack:"exchange"`
	Direction Direction `msgpack:"direction"`
	Type      OrderType `msgpack:"type"`
	Volume    float64   `msgpack:"volume"`
	Price     float64   `msgpack:"price"`
	Offset    Offset    `msgpack:"offset"`
	Reference string    `msgpack:"reference"`
}

func (r *OrderRequest) VtSymbol() string { return VtSymbol(r.Symbol, r.Exchange) }

// CreateOrder builds the order a gateway reports for this request, in status SUBMITTING.
func (r *OrderRequest) CreateOrder(orderID, gatewayName string) Order {
	return Order{GatewayName: gatewayName, Symbol: r.Symbol, Exchange: r.Exchange, OrderID: orderID,
		Type: r.Type, Direction: r.Direction, Offset: r.Offset, Price: r.Price, Volume: r.Volume,
		Status: StatusSubmitting, Reference: r.Reference}
}

// CancelRequest asks a gateway to cancel an order or a quote. OrderID is the
// gateway's own id (not the vt_ form).
type CancelRequest struct {
	OrderID  string   `msgpack:"orderid"`
	Symbol   string   `msgpack:"symbol"`
	Exchange Exchange `msgpack:"exchange"`
}

func (r *CancelRequest) VtSymbol() string { return VtSymbol(r.Symbol, r.Exchange) }

// HistoryRequest asks a gateway for bars between Start and End (End zero: up to now).
type HistoryRequest struct {
	Symbol   string    `msgpack:"symbol"`
	Exchange Exchange  `msgpack:"exchange"`
	Start    time.Time `msgpack:"start"`
	End      time.Time `msgpack:"end"`
	Interval Interval  `msgpack:"interval"`
}

func (r *HistoryRequest) VtSymbol() string { return VtSymbol(r.Symbol, r.Exchange) }

// QuoteRequest asks a gateway to send a two-sided quote.
type QuoteRequest struct {
	Symbol    string   `msgpack:"symbol"`
	Exchange  Exchange `msgpack:"exchange"`
	BidPrice  float64  `msgpack:"bid_price"`
	BidVolume int64    `msgpack:"bid_volume"`
	AskPrice  float64  `msgpack:"ask_price"`
	AskVolume int64    `msgpack:"ask_volume"`
	BidOffset Offset   `msgpack:"bid_offset"`
	AskOffset Offset   `msgpack:"ask_offset"`
	Reference string   `msgpack:"reference"`
}

func (r *QuoteRequest) VtSymbol() string { return VtSymbol(r.Symbol, r.Exchange) }

// CreateQuote builds the quote a gateway reports for this request, in status SUBMITTING.
func (r *QuoteRequest) CreateQuote(quoteID, gatewayName string) Quote {
	return Quote{GatewayName: gatewayName, Symbol: r.Symbol, Exchange: r.Exchange, QuoteID: quoteID,
		BidPrice: r.BidPrice, BidVolume: r.BidVolume, AskPrice: r.AskPrice, AskVolume: r.AskVolume,
		BidOffset: r.BidOffset, AskOffset: r.AskOffset, Status: StatusSubmitting, Reference: r.Reference}
}

// OnGrid reports whether v is a whole number of steps: a price on its
// contract's price tick, a volume in whole lots. It allows a millionth of
// a step for the rounding of decimal fractions in binary (11.51 is
// 1151.0000000000002 ticks of 0.01). Every check of prices and volumes
// against a contract uses it.
func OnGrid(v, step float64) bool {
	q := v / step
	return math.Abs(q-math.Round(q)) <= 1e-6
}

// VtSymbol is symbol.EXCHANGE, e.g. "rb2601.SHFE".
func VtSymbol(symbol string, ex Exchange) string { return symbol + "." + ex.String() }

// AppendVtSymbol appends VtSymbol(symbol, ex) to dst, for a caller that
// reuses a buffer rather than allocate a string per call.
func AppendVtSymbol(dst []byte, symbol string, ex Exchange) []byte {
	return append(append(append(dst, symbol...), '.'), ex.String()...)
}

// ParseVtSymbol splits "rb2601.SHFE" at its last dot.
func ParseVtSymbol(vt string) (symbol string, ex Exchange, err error) {
	i := strings.LastIndexByte(vt, '.')
	if i <= 0 || i == len(vt)-1 {
		return "", 0, &VtSymbolError{VtSymbol: vt}
	}
	ex, err = ParseExchange(vt[i+1:])
	if err != nil {
		return "", 0, &VtSymbolError{VtSymbol: vt, Err: err}
	}
	return vt[:i], ex, nil
}

// VtSymbolError reports a vt_symbol that is not symbol.EXCHANGE.
type VtSymbolError struct {
	VtSymbol string
	Err      error
}

func (e *VtSymbolError) Error() string {
	if e.Err != nil {
		return "engine: bad vt_symbol " + strconv.Quote(e.VtSymbol) + ": " + e.Err.Error()
	}
	return "engine: bad vt_symbol " + strconv.Quote(e.VtSymbol) + " (want symbol.EXCHANGE, e.g. rb2601.SHFE)"
}

func (e *VtSymbolError) Unwrap() error { return e.Err }
