package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// The operations a tab may ask for. Each checks its arguments and answers
// with a clear error, never a partial action.

type serviceArgs struct {
	RepAddress         *string `json:"rep_address"`
	PubAddress         *string `json:"pub_address"`
	SocketPath         *string `json:"socket_path"`
	ServerKeyFile      *string `json:"server_key_file"`
	AuthorizedKeysFile *string `json:"authorized_keys_file"`
	Insecure           *bool   `json:"insecure"`
}

type connectArgs struct {
	Gateway string         `json:"gateway"`
	Setting engine.Setting `json:"setting"`
}

type symbolArgs struct {
	VtSymbol string `json:"vt_symbol"`
}

type orderArgs struct {
	Symbol    string  `json:"symbol"`
	Exchange  string  `json:"exchange"`
	Direction string  `json:"direction"`
	Offset    string  `json:"offset"`
	Type      string  `json:"type"`
	Price     float64 `json:"price"`
	Volume    float64 `json:"volume"`
}

type cancelArgs struct {
	VtOrderID string `json:"vt_orderid"`
}

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("bad arguments: %v", err)
	}
	return nil
}

func (c *Console) do(op string, raw json.RawMessage) (any, error) {
	switch op {
	case "service.start":
		return nil, c.serviceStart(raw)
	case "service.stop":
		svc := c.hub.service()
		if svc == nil {
			return nil, errors.New("this process has no RPC service")
		}
		return nil, svc.Stop()
	case "gateway.connect":
		return nil, c.connect(raw)
	case "subscribe":
		return nil, c.subscribe(raw)
	case "order.send":
		return c.sendOrder(raw)
	case "order.cancel":
		return nil, c.cancelOrder(raw)
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

func (c *Console) serviceStart(raw json.RawMessage) error {
	svc := c.hub.service()
	if svc == nil {
		return errors.New("this process has no RPC service")
	}
	var a serviceArgs
	if err := decode(raw, &a); err != nil {
		return err
	}
	st := svc.Setting()
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&st.RepAddress, a.RepAddress}, {&st.PubAddress, a.PubAddress}, {&st.SocketPath, a.SocketPath},
		{&st.ServerKeyFile, a.ServerKeyFile}, {&st.AuthorizedKeysFile, a.AuthorizedKeysFile}} {
		if f.v != nil {
			*f.dst = strings.TrimSpace(*f.v)
		}
	}
	if a.Insecure != nil {
		st.Insecure = *a.Insecure
	}
	return svc.StartWith(st)
}

func (c *Console) connect(raw json.RawMessage) error {
	var a connectArgs
	if err := decode(raw, &a); err != nil {
		return err
	}
	gw, err := c.me.Gateway(a.Gateway)
	if err != nil {
		return err
	}
	// Keep the gateway's own types: the form sends numbers as numbers,
	// but a key the gateway does not list is refused.
	def := gw.DefaultSetting()
	s := engine.Setting{}
	for k, v := range a.Setting {
		d, ok := def[k]
		if !ok {
			return fmt.Errorf("gateway %s has no setting %q", a.Gateway, k)
		}
		switch d.(type) {
		case float64, int:
			if _, ok := v.(float64); !ok {
				return fmt.Errorf("setting %q: want a number", k)
			}
		case bool:
			if _, ok := v.(bool); !ok {
				return fmt.Errorf("setting %q: want true or false", k)
			}
		case string:
			if _, ok := v.(string); !ok {
				return fmt.Errorf("setting %q: want text", k)
			}
		}
		s[k] = v
	}
	if err := c.me.Connect(s, a.Gateway); err != nil {
		return err
	}
	_, reportsState := gw.(*rpcgateway.Gateway)
	c.hub.connectedWith(a.Gateway, s, reportsState)
	return nil
}

// contract finds a listed contract, or says why not.
func (c *Console) contract(vt string) (*engine.Contract, error) {
	if _, _, err := engine.ParseVtSymbol(vt); err != nil {
		return nil, fmt.Errorf("%q is not SYMBOL.EXCHANGE (e.g. rb2601.SHFE)", vt)
	}
	ct, ok := c.me.Contract(vt)
	if !ok {
		return nil, fmt.Errorf("no contract %s: connect a gateway that lists it (%d contracts known)", vt, len(c.me.AllContracts()))
	}
	return ct, nil
}

func (c *Console) subscribe(raw json.RawMessage) error {
	var a symbolArgs
	if err := decode(raw, &a); err != nil {
		return err
	}
	ct, err := c.contract(strings.TrimSpace(a.VtSymbol))
	if err != nil {
		return err
	}
	return c.me.Subscribe(engine.SubscribeRequest{Symbol: ct.Symbol, Exchange: ct.Exchange}, ct.GatewayName)
}

// orderRequest checks a manual order against its contract.
func (c *Console) orderRequest(a orderArgs) (engine.OrderRequest, *engine.Contract, error) {
	var req engine.OrderRequest
	ex, err := engine.ParseExchange(a.Exchange)
	if err != nil {
		return req, nil, fmt.Errorf("exchange: %v", err)
	}
	ct, err := c.contract(engine.VtSymbol(strings.TrimSpace(a.Symbol), ex))
	if err != nil {
		return req, nil, err
	}
	req = engine.OrderRequest{Symbol: ct.Symbol, Exchange: ex, Price: a.Price, Volume: a.Volume, Reference: "console"}
	if req.Direction, err = engine.ParseDirection(a.Direction); err != nil || req.Direction == engine.DirectionUnset {
		return req, nil, fmt.Errorf("direction: choose LONG or SHORT")
	}
	if req.Offset, err = engine.ParseOffset(a.Offset); err != nil {
		return req, nil, fmt.Errorf("offset: %v", err)
	}
	if req.Type, err = engine.ParseOrderType(a.Type); err != nil || req.Type == 0 {
		return req, nil, fmt.Errorf("type: choose an order type")
	}
	if !(a.Volume > 0) || math.IsInf(a.Volume, 0) {
		return req, nil, fmt.Errorf("volume: must be positive")
	}
	if ct.MinVolume > 0 && !engine.OnGrid(a.Volume, ct.MinVolume) {
		return req, nil, fmt.Errorf("volume: %s trades in multiples of %g", ct.VtSymbol(), ct.MinVolume)
	}
	if req.Type != engine.OrderTypeMarket {
		if !(a.Price > 0) || math.IsInf(a.Price, 0) {
			return req, nil, fmt.Errorf("price: must be positive for a %s order", req.Type)
		}
		if ct.Pricetick > 0 && !engine.OnGrid(a.Price, ct.Pricetick) {
			return req, nil, fmt.Errorf("price: %s moves in ticks of %g", ct.VtSymbol(), ct.Pricetick)
		}
	}
	return req, ct, nil
}

func (c *Console) sendOrder(raw json.RawMessage) (any, error) {
	var a orderArgs
	if err := decode(raw, &a); err != nil {
		return nil, err
	}
	req, ct, err := c.orderRequest(a)
	if err != nil {
		return nil, err
	}
	id, err := c.me.SendOrder(req, ct.GatewayName)
	if err != nil {
		return nil, err
	}
	return map[string]string{"vt_orderid": id}, nil
}

func (c *Console) cancelOrder(raw json.RawMessage) error {
	var a cancelArgs
	if err := decode(raw, &a); err != nil {
		return err
	}
	o, ok := c.me.Order(a.VtOrderID)
	if !ok {
		return fmt.Errorf("no order %q", a.VtOrderID)
	}
	if !o.IsActive() {
		return fmt.Errorf("order %s is %s: only active orders can be cancelled", a.VtOrderID, o.Status.DisplayName(engine.LangEN))
	}
	return c.me.CancelOrder(o.CancelRequest(), o.GatewayName)
}
