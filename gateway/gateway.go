// Package gateway lists, by name, the exchange gateways a vnrpc server
// can run: the one place to add one. The server chooses with --gateway
// (default "sim") and connects it with the gateway's settings.
//
//	d, err := gateway.Lookup("sim")
//	gw, err := me.AddGateway(d.Factory(gateway.Options{}), "") // named by the gateway: "SIM"
//	err = me.Connect(d.Setting(), gw.Name())
//
// Gateways themselves live in the packages below (gateway/sim) or beside
// the protocol they speak (rpcservice/rpcgateway); they implement
// engine.Gateway.
package gateway

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// Options are what a gateway gets from the process that runs it.
type Options struct {
	// Logger receives the gateway's own logs beside its log events
	// (default slog.Default()).
	Logger *slog.Logger
}

// Driver is one kind of gateway.
type Driver struct {
	// Name is what --gateway takes: "sim".
	Name string
	// Description says what the gateway connects to, for help texts.
	Description string
	factory     func(Options) engine.GatewayFactory
}

// Factory returns the factory that builds the gateway for an engine
// (MainEngine.AddGateway; an empty name there means the gateway's own).
func (d Driver) Factory(o Options) engine.GatewayFactory { return d.factory(o) }

// Setting returns the gateway's connect settings with their defaults, to
// connect with or to change.
func (d Driver) Setting() engine.Setting {
	return d.factory(Options{})(engine.NewEventEngine(), "").DefaultSetting()
}

// drivers lists every gateway, in the order help texts show them.
var drivers = []Driver{
	{Name: "sim", Description: "the simulated exchange: futures and stocks, a seeded market, order matching",
		factory: func(Options) engine.GatewayFactory { return sim.New }},
	{Name: "rpc", Description: "another vnrpc server, through the RPC gateway: its engine served onward (setting address)",
		factory: func(o Options) engine.GatewayFactory { return rpcgateway.Factory(rpcgateway.Options{Logger: o.Logger}) }},
}

// Drivers lists every gateway.
func Drivers() []Driver { return append([]Driver(nil), drivers...) }

// Names lists the gateways' names.
func Names() []string {
	names := make([]string, len(drivers))
	for i, d := range drivers {
		names[i] = d.Name
	}
	return names
}

// Lookup returns the gateway called name, or an error listing the names.
func Lookup(name string) (Driver, error) {
	for _, d := range drivers {
		if d.Name == name {
			return d, nil
		}
	}
	return Driver{}, fmt.Errorf("no gateway %q (have %s)", name, strings.Join(Names(), ", "))
}
