package engine

import (
	"encoding/json"
	"errors"
	"testing"
)

// every enum round-trips through its code, text marshalling and JSON, and
// has display names in both languages.
func TestEnumsRoundTrip(t *testing.T) {
	type enum interface {
		String() string
		DisplayName(Lang) string
		MarshalText() ([]byte, error)
	}
	check := func(kind string, n int, get func(i int) enum, parse func(string) (enum, error)) {
		for i := 1; i < n; i++ {
			v := get(i)
			code := v.String()
			back, err := parse(code)
			if err != nil || back != v {
				t.Errorf("%s %d: code %q parses back to %v, %v", kind, i, code, back, err)
			}
			b, err := v.MarshalText()
			if err != nil || string(b) != code {
				t.Errorf("%s %q: MarshalText %q %v", kind, code, b, err)
			}
			if v.DisplayName(LangZH) == "" || v.DisplayName(LangEN) == "" {
				t.Errorf("%s %q lacks a display name", kind, code)
			}
		}
		if _, err := parse("NO_SUCH_CODE"); err == nil {
			t.Errorf("%s accepted an unknown code", kind)
		} else {
			var ee *EnumError
			if !errors.As(err, &ee) || ee.Kind != kind || len(ee.Accepted) != n-1 {
				t.Errorf("%s: unknown code error %v", kind, err)
			}
		}
	}
	check("Direction", len(directionNames), func(i int) enum { return Direction(i) },
		func(s string) (enum, error) { return ParseDirection(s) })
	check("Status", len(statusNames), func(i int) enum { return Status(i) },
		func(s string) (enum, error) { return ParseStatus(s) })
	check("Product", len(productNames), func(i int) enum { return Product(i) },
		func(s string) (enum, error) { return ParseProduct(s) })
	check("OrderType", len(orderTypeNames), func(i int) enum { return OrderType(i) },
		func(s string) (enum, error) { return ParseOrderType(s) })
	check("OptionType", len(optionTypeNames), func(i int) enum { return OptionType(i) },
		func(s string) (enum, error) { return ParseOptionType(s) })
	check("Interval", len(intervalNames), func(i int) enum { return Interval(i) },
		func(s string) (enum, error) { return ParseInterval(s) })
	check("Currency", len(currencyNames), func(i int) enum { return Currency(i) },
		func(s string) (enum, error) { return ParseCurrency(s) })
	check("Exchange", len(exchangeNames), func(i int) enum { return Exchange(i) },
		func(s string) (enum, error) { return ParseExchange(s) })
	// Offset's zero value is NONE, a member; its display name is empty, as in vn.py.
	for i := range offsetNames {
		v := Offset(i)
		if back, err := ParseOffset(v.String()); err != nil || back != v {
			t.Errorf("Offset %q: %v %v", v.String(), back, err)
		}
	}
	if len(AllExchanges()) != len(exchangeNames)-1 {
		t.Error("AllExchanges misses some")
	}
}

func TestEnumLabels(t *testing.T) {
	cases := []struct{ got, want string }{
		{DirectionLong.DisplayName(LangZH), "多"},
		{DirectionLong.DisplayName(LangEN), "Long"},
		{StatusNotTraded.String(), "NOTTRADED"},
		{StatusNotTraded.DisplayName(LangZH), "未成交"},
		{ExchangeEUREX.String(), "EUX"},
		{OffsetCloseToday.DisplayName(LangZH), "平今"},
		{IntervalMinute.String(), "1m"},
		{Direction(200).String(), "invalid(200)"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q want %q", c.got, c.want)
		}
	}
	if _, err := Direction(200).MarshalText(); err == nil {
		t.Error("an invalid enum value marshalled")
	}
}

func TestEnumsInJSONConfig(t *testing.T) {
	var v struct {
		Ex  Exchange  `json:"exchange"`
		Dir Direction `json:"direction"`
	}
	if err := json.Unmarshal([]byte(`{"exchange":"SHFE","direction":"SHORT"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Ex != ExchangeSHFE || v.Dir != DirectionShort {
		t.Fatalf("%+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"exchange":"SHFE","direction":"SHORT"}` {
		t.Errorf("%s", b)
	}
	err := json.Unmarshal([]byte(`{"exchange":"SHFX"}`), &v)
	var ee *EnumError
	if !errors.As(err, &ee) {
		t.Errorf("bad code in JSON: %v", err)
	}
}
