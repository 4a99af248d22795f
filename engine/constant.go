package engine

import "fmt"

// Enums travel as stable English codes (on the wire, in config files and in
// logs) and are shown to people through DisplayName in zh or en. The codes are
// vn.py's member names (LONG, NOTTRADED, SHFE …), never its localized values.
//
// Every enum is a uint8 whose zero value means "unset" (code ""), except
// Offset, whose zero value is OffsetNone ("NONE"), vn.py's default.

// Lang selects the language of display names.
type Lang uint8

const (
	LangEN Lang = iota // English
	LangZH             // Chinese (vn.py's default)
)

// ParseLang accepts "en" and "zh".
func ParseLang(s string) (Lang, error) {
	switch s {
	case "en", "EN":
		return LangEN, nil
	case "zh", "ZH", "cn":
		return LangZH, nil
	}
	return 0, fmt.Errorf("engine: unknown language %q (accepted: en, zh)", s)
}

// names is one enum member: its wire code and its display names.
type names struct{ code, en, zh string }

func enumString(t []names, i uint8) string {
	if int(i) < len(t) {
		return t[i].code
	}
	return fmt.Sprintf("invalid(%d)", i)
}

func enumDisplay(t []names, i uint8, l Lang) string {
	if int(i) >= len(t) {
		return fmt.Sprintf("invalid(%d)", i)
	}
	if l == LangZH {
		return t[i].zh
	}
	return t[i].en
}

func enumParse(kind string, t []names, s string) (uint8, error) {
	for i, n := range t {
		if n.code == s {
			return uint8(i), nil
		}
	}
	accepted := make([]string, 0, len(t))
	for _, n := range t {
		if n.code != "" {
			accepted = append(accepted, n.code)
		}
	}
	return 0, &EnumError{Kind: kind, Value: s, Accepted: accepted}
}

func enumMarshal(kind string, t []names, i uint8) ([]byte, error) {
	if int(i) >= len(t) {
		return nil, &EnumError{Kind: kind, Value: fmt.Sprintf("invalid(%d)", i)}
	}
	return []byte(t[i].code), nil
}

// EnumError reports a code that is not a member of an enum.
type EnumError struct {
	Kind     string   // "Direction", "Exchange", …
	Value    string   // what was given
	Accepted []string // the valid codes
}

func (e *EnumError) Error() string {
	return fmt.Sprintf("engine: unknown %s %q (accepted: %v)", e.Kind, e.Value, e.Accepted)
}

// Direction of an order, trade or position.
type Direction uint8

const (
	DirectionUnset Direction = iota
	DirectionLong
	DirectionShort
	DirectionNet
)

var directionNames = []names{{"", "", ""}, {"LONG", "Long", "多"}, {"SHORT", "Short", "空"}, {"NET", "Net", "净"}}

func (v Direction) String() string            { return enumString(directionNames, uint8(v)) }
func (v Direction) DisplayName(l Lang) string { return enumDisplay(directionNames, uint8(v), l) }
func (v Direction) MarshalText() ([]byte, error) {
	return enumMarshal("Direction", directionNames, uint8(v))
}
func (v *Direction) UnmarshalText(b []byte) error {
	x, err := ParseDirection(string(b))
	*v = x
	return err
}
func ParseDirection(s string) (Direction, error) {
	i, err := enumParse("Direction", directionNames, s)
	return Direction(i), err
}

// Offset says whether an order opens or closes a position.
type Offset uint8

const (
	OffsetNone Offset = iota
	OffsetOpen
	OffsetClose
	OffsetCloseToday
	OffsetCloseYesterday
)

var offsetNames = []names{{"NONE", "", ""}, {"OPEN", "Open", "开"}, {"CLOSE", "Close", "平"},
	{"CLOSETODAY", "Close Today", "平今"}, {"CLOSEYESTERDAY", "Close Yesterday", "平昨"}}

func (v Offset) String() string                { return enumString(offsetNames, uint8(v)) }
func (v Offset) DisplayName(l Lang) string     { return enumDisplay(offsetNames, uint8(v), l) }
func (v Offset) MarshalText() ([]byte, error)  { return enumMarshal("Offset", offsetNames, uint8(v)) }
func (v *Offset) UnmarshalText(b []byte) error { x, err := ParseOffset(string(b)); *v = x; return err }
func ParseOffset(s string) (Offset, error) {
	i, err := enumParse("Offset", offsetNames, s)
	return Offset(i), err
}

// Status of an order or a quote.
type Status uint8

const (
	StatusUnset Status = iota
	StatusSubmitting
	StatusNotTraded
	StatusPartTraded
	StatusAllTraded
	StatusCancelled
	StatusRejected
)

var statusNames = []names{{"", "", ""}, {"SUBMITTING", "Submitting", "提交中"}, {"NOTTRADED", "Not Traded", "未成交"},
	{"PARTTRADED", "Part Traded", "部分成交"}, {"ALLTRADED", "All Traded", "全部成交"},
	{"CANCELLED", "Cancelled", "已撤销"}, {"REJECTED", "Rejected", "拒单"}}

func (v Status) String() string                { return enumString(statusNames, uint8(v)) }
func (v Status) DisplayName(l Lang) string     { return enumDisplay(statusNames, uint8(v), l) }
func (v Status) MarshalText() ([]byte, error)  { return enumMarshal("Status", statusNames, uint8(v)) }
func (v *Status) UnmarshalText(b []byte) error { x, err := ParseStatus(string(b)); *v = x; return err }
func ParseStatus(s string) (Status, error) {
	i, err := enumParse("Status", statusNames, s)
	return Status(i), err
}

// Active reports whether an order in this status may still trade
// (vn.py's ACTIVE_STATUSES: SUBMITTING, NOTTRADED, PARTTRADED).
func (v Status) Active() bool {
	return v == StatusSubmitting || v == StatusNotTraded || v == StatusPartTraded
}

// Product class of a contract.
type Product uint8

const (
	ProductUnset Product = iota
	ProductEquity
	ProductFutures
	ProductOption
	ProductIndex
	ProductForex
	ProductSpot
	ProductETF
	ProductBond
	ProductWarrant
	ProductSpread
	ProductFund
	ProductCFD
	ProductSwap
)

var productNames = []names{{"", "", ""}, {"EQUITY", "Stock", "股票"}, {"FUTURES", "Futures", "期货"},
	{"OPTION", "Option", "期权"}, {"INDEX", "Index", "指数"}, {"FOREX", "Forex", "外汇"}, {"SPOT", "Spot", "现货"},
	{"ETF", "ETF", "ETF"}, {"BOND", "Bond", "债券"}, {"WARRANT", "Warrant", "权证"}, {"SPREAD", "Spread", "价差"},
	{"FUND", "Fund", "基金"}, {"CFD", "CFD", "CFD"}, {"SWAP", "Swap", "互换"}}

func (v Product) String() string               { return enumString(productNames, uint8(v)) }
func (v Product) DisplayName(l Lang) string    { return enumDisplay(productNames, uint8(v), l) }
func (v Product) MarshalText() ([]byte, error) { return enumMarshal("Product", productNames, uint8(v)) }
func (v *Product) UnmarshalText(b []byte) error {
	x, err := ParseProduct(string(b))
	*v = x
	return err
}
func ParseProduct(s string) (Product, error) {
	i, err := enumParse("Product", productNames, s)
	return Product(i), err
}

// OrderType of an order request.
type OrderType uint8

const (
	OrderTypeUnset OrderType = iota
	OrderTypeLimit
	OrderTypeMarket
	OrderTypeStop
	OrderTypeFAK
	OrderTypeFOK
	OrderTypeRFQ
	OrderTypeETF
)

var orderTypeNames = []names{{"", "", ""}, {"LIMIT", "Limit", "限价"}, {"MARKET", "Market", "市价"},
	{"STOP", "STOP", "STOP"}, {"FAK", "FAK", "FAK"}, {"FOK", "FOK", "FOK"}, {"RFQ", "RFQ", "询价"}, {"ETF", "ETF", "ETF"}}

func (v OrderType) String() string            { return enumString(orderTypeNames, uint8(v)) }
func (v OrderType) DisplayName(l Lang) string { return enumDisplay(orderTypeNames, uint8(v), l) }
func (v OrderType) MarshalText() ([]byte, error) {
	return enumMarshal("OrderType", orderTypeNames, uint8(v))
}
func (v *OrderType) UnmarshalText(b []byte) error {
	x, err := ParseOrderType(string(b))
	*v = x
	return err
}
func ParseOrderType(s string) (OrderType, error) {
	i, err := enumParse("OrderType", orderTypeNames, s)
	return OrderType(i), err
}

// OptionType of an option contract.
type OptionType uint8

const (
	OptionTypeUnset OptionType = iota
	OptionTypeCall
	OptionTypePut
)

var optionTypeNames = []names{{"", "", ""}, {"CALL", "Call", "看涨期权"}, {"PUT", "Put", "看跌期权"}}

func (v OptionType) String() string            { return enumString(optionTypeNames, uint8(v)) }
func (v OptionType) DisplayName(l Lang) string { return enumDisplay(optionTypeNames, uint8(v), l) }
func (v OptionType) MarshalText() ([]byte, error) {
	return enumMarshal("OptionType", optionTypeNames, uint8(v))
}
func (v *OptionType) UnmarshalText(b []byte) error {
	x, err := ParseOptionType(string(b))
	*v = x
	return err
}
func ParseOptionType(s string) (OptionType, error) {
	i, err := enumParse("OptionType", optionTypeNames, s)
	return OptionType(i), err
}

// Interval of a bar. Its codes are vn.py's values ("1m", "1h", "d", "w",
// "tick"), which are not localized.
type Interval uint8

const (
	IntervalUnset Interval = iota
	IntervalMinute
	IntervalHour
	IntervalDaily
	IntervalWeekly
	IntervalTick
)

var intervalNames = []names{{"", "", ""}, {"1m", "1m", "1m"}, {"1h", "1h", "1h"}, {"d", "d", "d"},
	{"w", "w", "w"}, {"tick", "tick", "tick"}}

func (v Interval) String() string            { return enumString(intervalNames, uint8(v)) }
func (v Interval) DisplayName(l Lang) string { return enumDisplay(intervalNames, uint8(v), l) }
func (v Interval) MarshalText() ([]byte, error) {
	return enumMarshal("Interval", intervalNames, uint8(v))
}
func (v *Interval) UnmarshalText(b []byte) error {
	x, err := ParseInterval(string(b))
	*v = x
	return err
}
func ParseInterval(s string) (Interval, error) {
	i, err := enumParse("Interval", intervalNames, s)
	return Interval(i), err
}

// Currency of an account or contract.
type Currency uint8

const (
	CurrencyUnset Currency = iota
	CurrencyUSD
	CurrencyHKD
	CurrencyCNY
	CurrencyCAD
)

var currencyNames = []names{{"", "", ""}, {"USD", "USD", "USD"}, {"HKD", "HKD", "HKD"}, {"CNY", "CNY", "CNY"}, {"CAD", "CAD", "CAD"}}

func (v Currency) String() string            { return enumString(currencyNames, uint8(v)) }
func (v Currency) DisplayName(l Lang) string { return enumDisplay(currencyNames, uint8(v), l) }
func (v Currency) MarshalText() ([]byte, error) {
	return enumMarshal("Currency", currencyNames, uint8(v))
}
func (v *Currency) UnmarshalText(b []byte) error {
	x, err := ParseCurrency(string(b))
	*v = x
	return err
}
func ParseCurrency(s string) (Currency, error) {
	i, err := enumParse("Currency", currencyNames, s)
	return Currency(i), err
}

// Exchange a contract is listed on. Codes are vn.py's values, which equal the
// member names except EUREX, whose code is "EUX".
type Exchange uint8

const (
	ExchangeUnset Exchange = iota
	// China
	ExchangeCFFEX
	ExchangeSHFE
	ExchangeCZCE
	ExchangeDCE
	ExchangeINE
	ExchangeGFEX
	ExchangeSSE
	ExchangeSZSE
	ExchangeBSE
	ExchangeSHHK
	ExchangeSZHK
	ExchangeSGE
	ExchangeWXE
	ExchangeCFETS
	ExchangeXBOND
	// Global
	ExchangeSMART
	ExchangeNYSE
	ExchangeNASDAQ
	ExchangeARCA
	ExchangeEDGEA
	ExchangeISLAND
	ExchangeBATS
	ExchangeIEX
	ExchangeAMEX
	ExchangeTSE
	ExchangeNYMEX
	ExchangeCOMEX
	ExchangeGLOBEX
	ExchangeIDEALPRO
	ExchangeCME
	ExchangeICE
	ExchangeSEHK
	ExchangeHKFE
	ExchangeSGX
	ExchangeCBOT
	ExchangeCBOE
	ExchangeCFE
	ExchangeDME
	ExchangeEUREX
	ExchangeAPEX
	ExchangeLME
	ExchangeBMD
	ExchangeTOCOM
	ExchangeEUNX
	ExchangeKRX
	ExchangeOTC
	ExchangeIBKRATS
	// Special
	ExchangeLOCAL
	ExchangeGLOBAL
)

var exchangeNames = []names{{"", "", ""},
	{"CFFEX", "CFFEX", "中金所"}, {"SHFE", "SHFE", "上期所"}, {"CZCE", "CZCE", "郑商所"}, {"DCE", "DCE", "大商所"},
	{"INE", "INE", "上期能源"}, {"GFEX", "GFEX", "广期所"}, {"SSE", "SSE", "上交所"}, {"SZSE", "SZSE", "深交所"},
	{"BSE", "BSE", "北交所"}, {"SHHK", "SHHK", "沪股通"}, {"SZHK", "SZHK", "深股通"}, {"SGE", "SGE", "上海黄金交易所"},
	{"WXE", "WXE", "无锡钢联"}, {"CFETS", "CFETS", "外汇交易中心"}, {"XBOND", "XBOND", "XBond"},
	{"SMART", "SMART", "SMART"}, {"NYSE", "NYSE", "NYSE"}, {"NASDAQ", "NASDAQ", "NASDAQ"}, {"ARCA", "ARCA", "ARCA"},
	{"EDGEA", "EDGEA", "EDGEA"}, {"ISLAND", "ISLAND", "ISLAND"}, {"BATS", "BATS", "BATS"}, {"IEX", "IEX", "IEX"},
	{"AMEX", "AMEX", "AMEX"}, {"TSE", "TSE", "TSE"}, {"NYMEX", "NYMEX", "NYMEX"}, {"COMEX", "COMEX", "COMEX"},
	{"GLOBEX", "GLOBEX", "GLOBEX"}, {"IDEALPRO", "IDEALPRO", "IDEALPRO"}, {"CME", "CME", "CME"}, {"ICE", "ICE", "ICE"},
	{"SEHK", "SEHK", "港交所"}, {"HKFE", "HKFE", "香港期货交易所"}, {"SGX", "SGX", "新加坡交易所"}, {"CBOT", "CBOT", "CBOT"},
	{"CBOE", "CBOE", "CBOE"}, {"CFE", "CFE", "CFE"}, {"DME", "DME", "DME"}, {"EUX", "EUREX", "EUREX"},
	{"APEX", "APEX", "APEX"}, {"LME", "LME", "LME"}, {"BMD", "BMD", "BMD"}, {"TOCOM", "TOCOM", "TOCOM"},
	{"EUNX", "EUNX", "EUNX"}, {"KRX", "KRX", "KRX"}, {"OTC", "OTC", "OTC"}, {"IBKRATS", "IBKRATS", "IBKRATS"},
	{"LOCAL", "LOCAL", "本地"}, {"GLOBAL", "GLOBAL", "全局"}}

func (v Exchange) String() string            { return enumString(exchangeNames, uint8(v)) }
func (v Exchange) DisplayName(l Lang) string { return enumDisplay(exchangeNames, uint8(v), l) }
func (v Exchange) MarshalText() ([]byte, error) {
	return enumMarshal("Exchange", exchangeNames, uint8(v))
}
func (v *Exchange) UnmarshalText(b []byte) error {
	x, err := ParseExchange(string(b))
	*v = x
	return err
}
func ParseExchange(s string) (Exchange, error) {
	i, err := enumParse("Exchange", exchangeNames, s)
	return Exchange(i), err
}

// AllExchanges lists every exchange, in declaration order.
func AllExchanges() []Exchange {
	out := make([]Exchange, 0, len(exchangeNames)-1)
	for i := 1; i < len(exchangeNames); i++ {
		out = append(out, Exchange(i))
	}
	return out
}
