package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/vnrpc/vnrpc/engine"
)

// Spec is a contract of the simulated exchange with the parameters of its
// simulated market.
type Spec struct {
	Symbol    string          `json:"symbol"`
	Exchange  engine.Exchange `json:"exchange"`
	Name      string          `json:"name"`
	Product   engine.Product  `json:"product"`
	Size      float64         `json:"size"`       // contract multiplier
	Pricetick float64         `json:"pricetick"`  // minimum price step
	MinVolume float64         `json:"min_volume"` // order volumes are multiples of it
	MaxVolume float64         `json:"max_volume"` // 0: no maximum
	// Price is the previous close, where the random walk starts and around
	// which the daily limits are set.
	Price float64 `json:"price"`
	// MarginRatio is the share of notional frozen to open a position
	// (1 for stocks, which are paid in full).
	MarginRatio float64 `json:"margin_ratio"`
	// LimitRatio sets the daily price limits at Price × (1 ± LimitRatio).
	LimitRatio float64 `json:"limit_ratio"`
}

// Contract returns the engine contract this spec describes, for gateway name.
func (s *Spec) Contract(gateway string) engine.Contract {
	return engine.Contract{GatewayName: gateway, Symbol: s.Symbol, Exchange: s.Exchange, Name: s.Name,
		Product: s.Product, Size: s.Size, Pricetick: s.Pricetick, MinVolume: s.MinVolume,
		MaxVolume: s.MaxVolume, HistoryData: true}
}

func (s *Spec) VtSymbol() string { return engine.VtSymbol(s.Symbol, s.Exchange) }

func (s *Spec) validate() error {
	bad := func(field, why string) error {
		return fmt.Errorf("sim: contract %q: %s %s", s.VtSymbol(), field, why)
	}
	switch {
	case s.Symbol == "":
		return fmt.Errorf("sim: contract with an empty symbol")
	case s.Exchange == engine.ExchangeUnset:
		return bad("exchange", "is missing")
	case s.Product == engine.ProductUnset:
		return bad("product", "is missing (e.g. FUTURES, EQUITY)")
	case !(s.Size > 0):
		return bad("size", "must be positive")
	case !(s.Pricetick > 0):
		return bad("pricetick", "must be positive")
	case !(s.MinVolume > 0):
		return bad("min_volume", "must be positive")
	case s.MaxVolume < 0:
		return bad("max_volume", "must be 0 (no maximum) or positive")
	case !(s.Price > 0):
		return bad("price", "must be positive")
	case !(s.MarginRatio > 0 && s.MarginRatio <= 1):
		return bad("margin_ratio", "must be in (0, 1]")
	case !(s.LimitRatio > 0 && s.LimitRatio < 1):
		return bad("limit_ratio", "must be in (0, 1)")
	case math.Abs(s.Price/s.Pricetick-math.Round(s.Price/s.Pricetick)) > 1e-6:
		return bad("price", "is not a multiple of the pricetick")
	}
	return nil
}

// DefaultContracts is the simulated exchange's default contract set: seven
// futures on SHFE, DCE, CZCE, CFFEX and INE and four stocks on SSE and SZSE.
func DefaultContracts() []Spec {
	fut := func(sym string, ex engine.Exchange, name string, size, tick, price, margin, limit, max float64) Spec {
		return Spec{Symbol: sym, Exchange: ex, Name: name, Product: engine.ProductFutures, Size: size,
			Pricetick: tick, MinVolume: 1, MaxVolume: max, Price: price, MarginRatio: margin, LimitRatio: limit}
	}
	stock := func(sym string, ex engine.Exchange, name string, price float64) Spec {
		return Spec{Symbol: sym, Exchange: ex, Name: name, Product: engine.ProductEquity, Size: 1,
			Pricetick: 0.01, MinVolume: 100, MaxVolume: 1_000_000, Price: price, MarginRatio: 1, LimitRatio: 0.1}
	}
	return []Spec{
		fut("rb2601", engine.ExchangeSHFE, "螺纹钢2601", 10, 1, 3200, 0.1, 0.07, 500),
		fut("cu2601", engine.ExchangeSHFE, "沪铜2601", 5, 10, 78000, 0.1, 0.07, 500),
		fut("m2601", engine.ExchangeDCE, "豆粕2601", 10, 1, 2900, 0.1, 0.07, 1000),
		fut("i2601", engine.ExchangeDCE, "铁矿石2601", 100, 0.5, 780, 0.13, 0.08, 1000),
		fut("SR601", engine.ExchangeCZCE, "白糖601", 10, 1, 5600, 0.08, 0.06, 1000),
		fut("IF2512", engine.ExchangeCFFEX, "沪深300股指2512", 300, 0.2, 4500, 0.12, 0.1, 20),
		fut("sc2601", engine.ExchangeINE, "原油2601", 1000, 0.1, 520, 0.1, 0.08, 500),
		stock("600519", engine.ExchangeSSE, "贵州茅台", 1500),
		stock("601318", engine.ExchangeSSE, "中国平安", 55),
		stock("000001", engine.ExchangeSZSE, "平安银行", 11.5),
		stock("300750", engine.ExchangeSZSE, "宁德时代", 250),
	}
}

// LoadContracts reads a JSON array of Specs from path and validates them.
// Example element:
//
//	{"symbol": "rb2601", "exchange": "SHFE", "name": "螺纹钢2601", "product": "FUTURES",
//	 "size": 10, "pricetick": 1, "min_volume": 1, "max_volume": 500,
//	 "price": 3200, "margin_ratio": 0.1, "limit_ratio": 0.07}
func LoadContracts(path string) ([]Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: contracts file: %w", err)
	}
	var specs []Spec
	if err := json.Unmarshal(b, &specs); err != nil {
		return nil, fmt.Errorf("sim: contracts file %s: %w", path, err)
	}
	if err := validateSpecs(specs); err != nil {
		return nil, fmt.Errorf("sim: contracts file %s: %w", path, err)
	}
	return specs, nil
}

func validateSpecs(specs []Spec) error {
	if len(specs) == 0 {
		return fmt.Errorf("sim: no contracts")
	}
	seen := map[string]bool{}
	for i := range specs {
		if err := specs[i].validate(); err != nil {
			return err
		}
		if seen[specs[i].VtSymbol()] {
			return fmt.Errorf("sim: contract %q listed twice", specs[i].VtSymbol())
		}
		seen[specs[i].VtSymbol()] = true
	}
	return nil
}

// settings are the parsed connect settings.
type settings struct {
	userID, password string
	seed             uint64
	tickRate         float64
	capital          float64
	contractsFile    string
}

// MaxTickRate is the highest tick_rate setting, in ticks per second per subscribed symbol.
const MaxTickRate = 100_000

func defaultSetting() engine.Setting {
	return engine.Setting{
		"user_id":        "demo",
		"password":       "demo",
		"seed":           1,
		"tick_rate":      2.0,
		"capital":        1_000_000.0,
		"contracts_file": "",
	}
}

func parseSettings(s engine.Setting) (settings, error) {
	d := defaultSetting()
	var out settings
	var errs []error
	text := func(k string) string {
		v, err := s.Text(k, d[k].(string))
		errs = append(errs, err)
		return v
	}
	number := func(k string) float64 {
		def, _ := d.Number(k, 0)
		v, err := s.Number(k, def)
		errs = append(errs, err)
		return v
	}
	out.userID, out.password, out.contractsFile = text("user_id"), text("password"), text("contracts_file")
	seed := number("seed")
	out.tickRate, out.capital = number("tick_rate"), number("capital")
	errs = append(errs, s.Unknown(d))
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("sim: %w", err)
	}
	if seed < 0 || seed != math.Trunc(seed) || seed > 1<<53 {
		return out, fmt.Errorf("sim: setting seed: %v is not a whole number in [0, 2^53]", seed)
	}
	out.seed = uint64(seed)
	if out.tickRate < 0 || out.tickRate > MaxTickRate {
		return out, fmt.Errorf("sim: setting tick_rate: %v is outside [0, %d] ticks/s per symbol (0: ticks only on Step)",
			out.tickRate, MaxTickRate)
	}
	if !(out.capital > 0) || math.IsInf(out.capital, 0) {
		return out, fmt.Errorf("sim: setting capital: %v must be a positive amount", out.capital)
	}
	return out, nil
}
