package gateway_test

import (
	"strings"
	"testing"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway"
)

// Every listed gateway builds, under its own default name, and has
// connect settings; an unknown name is an error that lists the names.
func TestRegistry(t *testing.T) {
	for _, d := range gateway.Drivers() {
		got, err := gateway.Lookup(d.Name)
		if err != nil || got.Name != d.Name {
			t.Fatalf("Lookup(%q): %v", d.Name, err)
		}
		gw := d.Factory(gateway.Options{})(engine.NewEventEngine(), "")
		if gw.Name() == "" || len(d.Setting()) == 0 || d.Description == "" {
			t.Errorf("%s: name %q, settings %v, description %q", d.Name, gw.Name(), d.Setting(), d.Description)
		}
	}
	if _, err := gateway.Lookup("ctp"); err == nil || !strings.Contains(err.Error(), "sim, rpc") {
		t.Errorf("Lookup(ctp): %v", err)
	}
}
