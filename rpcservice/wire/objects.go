package wire

import (
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	e "github.com/vnrpc/vnrpc/engine"
)

var tickCodec = newCodec("Tick", append([]field[e.Tick]{
	str("gateway_name", func(v *e.Tick) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Tick) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Tick) *e.Exchange { return &v.Exchange }),
	tm("datetime", func(v *e.Tick) *time.Time { return &v.Datetime }),
	str("name", func(v *e.Tick) *string { return &v.Name }),
	f64("volume", func(v *e.Tick) *float64 { return &v.Volume }),
	f64("turnover", func(v *e.Tick) *float64 { return &v.Turnover }),
	f64("open_interest", func(v *e.Tick) *float64 { return &v.OpenInterest }),
	f64("last_price", func(v *e.Tick) *float64 { return &v.LastPrice }),
	f64("last_volume", func(v *e.Tick) *float64 { return &v.LastVolume }),
	f64("limit_up", func(v *e.Tick) *float64 { return &v.LimitUp }),
	f64("limit_down", func(v *e.Tick) *float64 { return &v.LimitDown }),
	f64("open_price", func(v *e.Tick) *float64 { return &v.OpenPrice }),
	f64("high_price", func(v *e.Tick) *float64 { return &v.HighPrice }),
	f64("low_price", func(v *e.Tick) *float64 { return &v.LowPrice }),
	f64("pre_close", func(v *e.Tick) *float64 { return &v.PreClose }),
	tm("localtime", func(v *e.Tick) *time.Time { return &v.Localtime }),
}, concat(
	book("bid_price", func(v *e.Tick) *[5]float64 { return &v.BidPrice }),
	book("ask_price", func(v *e.Tick) *[5]float64 { return &v.AskPrice }),
	book("bid_volume", func(v *e.Tick) *[5]float64 { return &v.BidVolume }),
	book("ask_volume", func(v *e.Tick) *[5]float64 { return &v.AskVolume }),
)...)...)

var barCodec = newCodec("Bar",
	str("gateway_name", func(v *e.Bar) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Bar) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Bar) *e.Exchange { return &v.Exchange }),
	tm("datetime", func(v *e.Bar) *time.Time { return &v.Datetime }),
	enum("interval", e.ParseInterval, func(v *e.Bar) *e.Interval { return &v.Interval }),
	f64("volume", func(v *e.Bar) *float64 { return &v.Volume }),
	f64("turnover", func(v *e.Bar) *float64 { return &v.Turnover }),
	f64("open_interest", func(v *e.Bar) *float64 { return &v.OpenInterest }),
	f64("open_price", func(v *e.Bar) *float64 { return &v.OpenPrice }),
	f64("high_price", func(v *e.Bar) *float64 { return &v.HighPrice }),
	f64("low_price", func(v *e.Bar) *float64 { return &v.LowPrice }),
	f64("close_price", func(v *e.Bar) *float64 { return &v.ClosePrice }),
)

var orderCodec = newCodec("Order",
	str("gateway_name", func(v *e.Order) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Order) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Order) *e.Exchange { return &v.Exchange }),
	str("orderid", func(v *e.Order) *string { return &v.OrderID }),
	enum("type", e.ParseOrderType, func(v *e.Order) *e.OrderType { return &v.Type }),
	enum("direction", e.ParseDirection, func(v *e.Order) *e.Direction { return &v.Direction }),
	enum("offset", e.ParseOffset, func(v *e.Order) *e.Offset { return &v.Offset }),
	f64("price", func(v *e.Order) *float64 { return &v.Price }),
	f64("volume", func(v *e.Order) *float64 { return &v.Volume }),
	f64("traded", func(v *e.Order) *float64 { return &v.Traded }),
	enum("status", e.ParseStatus, func(v *e.Order) *e.Status { return &v.Status }),
	tm("datetime", func(v *e.Order) *time.Time { return &v.Datetime }),
	str("reference", func(v *e.Order) *string { return &v.Reference }),
	str("reason", func(v *e.Order) *string { return &v.Reason }),
)

var tradeCodec = newCodec("Trade",
	str("gateway_name", func(v *e.Trade) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Trade) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Trade) *e.Exchange { return &v.Exchange }),
	str("orderid", func(v *e.Trade) *string { return &v.OrderID }),
	str("tradeid", func(v *e.Trade) *string { return &v.TradeID }),
	enum("direction", e.ParseDirection, func(v *e.Trade) *e.Direction { return &v.Direction }),
	enum("offset", e.ParseOffset, func(v *e.Trade) *e.Offset { return &v.Offset }),
	f64("price", func(v *e.Trade) *float64 { return &v.Price }),
	f64("volume", func(v *e.Trade) *float64 { return &v.Volume }),
	tm("datetime", func(v *e.Trade) *time.Time { return &v.Datetime }),
)

var positionCodec = newCodec("Position",
	str("gateway_name", func(v *e.Position) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Position) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Position) *e.Exchange { return &v.Exchange }),
	enum("direction", e.ParseDirection, func(v *e.Position) *e.Direction { return &v.Direction }),
	f64("volume", func(v *e.Position) *float64 { return &v.Volume }),
	f64("frozen", func(v *e.Position) *float64 { return &v.Frozen }),
	f64("price", func(v *e.Position) *float64 { return &v.Price }),
	f64("pnl", func(v *e.Position) *float64 { return &v.Pnl }),
	f64("yd_volume", func(v *e.Position) *float64 { return &v.YdVolume }),
)

var accountCodec = newCodec("Account",
	str("gateway_name", func(v *e.Account) *string { return &v.GatewayName }),
	str("accountid", func(v *e.Account) *string { return &v.AccountID }),
	f64("balance", func(v *e.Account) *float64 { return &v.Balance }),
	f64("frozen", func(v *e.Account) *float64 { return &v.Frozen }),
)

var logCodec = newCodec("Log",
	str("gateway_name", func(v *e.Log) *string { return &v.GatewayName }),
	str("msg", func(v *e.Log) *string { return &v.Msg }),
	integer("level", func(v *e.Log) *int { return &v.Level }),
	tm("time", func(v *e.Log) *time.Time { return &v.Time }),
)

var contractCodec = newCodec("Contract",
	str("gateway_name", func(v *e.Contract) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Contract) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Contract) *e.Exchange { return &v.Exchange }),
	str("name", func(v *e.Contract) *string { return &v.Name }),
	enum("product", e.ParseProduct, func(v *e.Contract) *e.Product { return &v.Product }),
	f64("size", func(v *e.Contract) *float64 { return &v.Size }),
	f64("pricetick", func(v *e.Contract) *float64 { return &v.Pricetick }),
	f64("min_volume", func(v *e.Contract) *float64 { return &v.MinVolume }),
	f64("max_volume", func(v *e.Contract) *float64 { return &v.MaxVolume }),
	boolean("stop_supported", func(v *e.Contract) *bool { return &v.StopSupported }),
	boolean("net_position", func(v *e.Contract) *bool { return &v.NetPosition }),
	boolean("history_data", func(v *e.Contract) *bool { return &v.HistoryData }),
	f64("option_strike", func(v *e.Contract) *float64 { return &v.OptionStrike }),
	str("option_underlying", func(v *e.Contract) *string { return &v.OptionUnderlying }),
	enum("option_type", e.ParseOptionType, func(v *e.Contract) *e.OptionType { return &v.OptionType }),
	tm("option_listed", func(v *e.Contract) *time.Time { return &v.OptionListed }),
	tm("option_expiry", func(v *e.Contract) *time.Time { return &v.OptionExpiry }),
	str("option_portfolio", func(v *e.Contract) *string { return &v.OptionPortfolio }),
	str("option_index", func(v *e.Contract) *string { return &v.OptionIndex }),
)

var quoteCodec = newCodec("Quote",
	str("gateway_name", func(v *e.Quote) *string { return &v.GatewayName }),
	str("symbol", func(v *e.Quote) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.Quote) *e.Exchange { return &v.Exchange }),
	str("quoteid", func(v *e.Quote) *string { return &v.QuoteID }),
	f64("bid_price", func(v *e.Quote) *float64 { return &v.BidPrice }),
	i64("bid_volume", func(v *e.Quote) *int64 { return &v.BidVolume }),
	f64("ask_price", func(v *e.Quote) *float64 { return &v.AskPrice }),
	i64("ask_volume", func(v *e.Quote) *int64 { return &v.AskVolume }),
	enum("bid_offset", e.ParseOffset, func(v *e.Quote) *e.Offset { return &v.BidOffset }),
	enum("ask_offset", e.ParseOffset, func(v *e.Quote) *e.Offset { return &v.AskOffset }),
	enum("status", e.ParseStatus, func(v *e.Quote) *e.Status { return &v.Status }),
	tm("datetime", func(v *e.Quote) *time.Time { return &v.Datetime }),
	str("reference", func(v *e.Quote) *string { return &v.Reference }),
)

var subscribeCodec = newCodec("SubscribeRequest",
	str("symbol", func(v *e.SubscribeRequest) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.SubscribeRequest) *e.Exchange { return &v.Exchange }),
)

var orderRequestCodec = newCodec("OrderRequest",
	str("symbol", func(v *e.OrderRequest) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.OrderRequest) *e.Exchange { return &v.Exchange }),
	enum("direction", e.ParseDirection, func(v *e.OrderRequest) *e.Direction { return &v.Direction }),
	enum("type", e.ParseOrderType, func(v *e.OrderRequest) *e.OrderType { return &v.Type }),
	f64("volume", func(v *e.OrderRequest) *float64 { return &v.Volume }),
	f64("price", func(v *e.OrderRequest) *float64 { return &v.Price }),
	enum("offset", e.ParseOffset, func(v *e.OrderRequest) *e.Offset { return &v.Offset }),
	str("reference", func(v *e.OrderRequest) *string { return &v.Reference }),
)

var cancelCodec = newCodec("CancelRequest",
	str("orderid", func(v *e.CancelRequest) *string { return &v.OrderID }),
	str("symbol", func(v *e.CancelRequest) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.CancelRequest) *e.Exchange { return &v.Exchange }),
)

var historyCodec = newCodec("HistoryRequest",
	str("symbol", func(v *e.HistoryRequest) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.HistoryRequest) *e.Exchange { return &v.Exchange }),
	tm("start", func(v *e.HistoryRequest) *time.Time { return &v.Start }),
	tm("end", func(v *e.HistoryRequest) *time.Time { return &v.End }),
	enum("interval", e.ParseInterval, func(v *e.HistoryRequest) *e.Interval { return &v.Interval }),
)

var quoteRequestCodec = newCodec("QuoteRequest",
	str("symbol", func(v *e.QuoteRequest) *string { return &v.Symbol }),
	enum("exchange", e.ParseExchange, func(v *e.QuoteRequest) *e.Exchange { return &v.Exchange }),
	f64("bid_price", func(v *e.QuoteRequest) *float64 { return &v.BidPrice }),
	i64("bid_volume", func(v *e.QuoteRequest) *int64 { return &v.BidVolume }),
	f64("ask_price", func(v *e.QuoteRequest) *float64 { return &v.AskPrice }),
	i64("ask_volume", func(v *e.QuoteRequest) *int64 { return &v.AskVolume }),
	enum("bid_offset", e.ParseOffset, func(v *e.QuoteRequest) *e.Offset { return &v.BidOffset }),
	enum("ask_offset", e.ParseOffset, func(v *e.QuoteRequest) *e.Offset { return &v.AskOffset }),
	str("reference", func(v *e.QuoteRequest) *string { return &v.Reference }),
)

func concat[T any](parts ...[]T) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Encode writes v, a pointer to an engine object, to enc.
func Encode(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case *e.Tick:
		return tickCodec.encode(enc, x)
	case *e.Bar:
		return barCodec.encode(enc, x)
	case *e.Order:
		return orderCodec.encode(enc, x)
	case *e.Trade:
		return tradeCodec.encode(enc, x)
	case *e.Position:
		return positionCodec.encode(enc, x)
	case *e.Account:
		return accountCodec.encode(enc, x)
	case *e.Log:
		return logCodec.encode(enc, x)
	case *e.Contract:
		return contractCodec.encode(enc, x)
	case *e.Quote:
		return quoteCodec.encode(enc, x)
	case *e.SubscribeRequest:
		return subscribeCodec.encode(enc, x)
	case *e.OrderRequest:
		return orderRequestCodec.encode(enc, x)
	case *e.CancelRequest:
		return cancelCodec.encode(enc, x)
	case *e.HistoryRequest:
		return historyCodec.encode(enc, x)
	case *e.QuoteRequest:
		return quoteRequestCodec.encode(enc, x)
	}
	return fmt.Errorf("%w: %T", ErrUnsupported, v)
}

// Decode reads one object from dec into v, a pointer to an engine object,
// which is reset first.
func Decode(dec *msgpack.Decoder, v any) error {
	switch x := v.(type) {
	case *e.Tick:
		return tickCodec.decode(dec, x)
	case *e.Bar:
		return barCodec.decode(dec, x)
	case *e.Order:
		return orderCodec.decode(dec, x)
	case *e.Trade:
		return tradeCodec.decode(dec, x)
	case *e.Position:
		return positionCodec.decode(dec, x)
	case *e.Account:
		return accountCodec.decode(dec, x)
	case *e.Log:
		return logCodec.decode(dec, x)
	case *e.Contract:
		return contractCodec.decode(dec, x)
	case *e.Quote:
		return quoteCodec.decode(dec, x)
	case *e.SubscribeRequest:
		return subscribeCodec.decode(dec, x)
	case *e.OrderRequest:
		return orderRequestCodec.decode(dec, x)
	case *e.CancelRequest:
		return cancelCodec.decode(dec, x)
	case *e.HistoryRequest:
		return historyCodec.decode(dec, x)
	case *e.QuoteRequest:
		return quoteRequestCodec.decode(dec, x)
	}
	return fmt.Errorf("%w: %T", ErrUnsupported, v)
}
