// Package rpc is vnrpc's generic RPC layer (the role of vn.py's
// vnpy.rpc): a Server that registers typed methods and publishes events,
// and a Client that calls and subscribes over the fastest transport
// available. It knows nothing of trading.
//
// Server:
//
//	s := rpc.NewServer(rpc.ServerOptions{CallAddr: "tcp://0.0.0.0:2014", EventAddr: "tcp://0.0.0.0:4102", Curve: …})
//	rpc.Handle(s, "add", func(ctx context.Context, r AddReq) (AddResp, error) { … })
//	err := s.Start()       // a new epoch: segment, ring, unix socket, LAN sockets
//	seq, err := s.Publish(typ, payload)
//	err = s.Stop()         // and Start again later, in the same process
//
// Client:
//
//	c, err := rpc.Dial(ctx, rpc.ClientOptions{Addr: "tcp://10.1.2.3:2014", OnEvent: …, OnState: …})
//	resp, err := rpc.Call[AddResp](ctx, c, "add", AddReq{1, 2})
//
// Transport choice: the client says hello over the address it was given;
// the server answers with its protocol version, epoch, host identity
// (machine, boot and network namespace), unix socket path and segment
// name. With TransportAuto a client on the same host identity that can
// open the socket and the segment switches to them (events from the
// shared-memory ring, calls over the unix socket); otherwise it stays on
// ZeroMQ TCP. TransportLocal and TransportTCP force a choice.
// Client.Transport reports it, and it is logged.
//
// Liveness: the client pings every Heartbeat (default 1 s). It notices a
// lost server at once when the unix socket ends or the ring closes, and
// within Tolerance (default 3 s) otherwise. Pending calls then fail,
// further calls fail with ErrDisconnected, and it reconnects with backoff.
// On reconnect it reports StateConnected and a StateResync ("reconnect"
// or "new epoch"); laps of the ring ("lap") and gaps on TCP ("gap") are
// resyncs too, with the count lost. The server never runs a request whose
// deadline has passed. A protocol version mismatch is ErrVersion on the
// client and a logged refusal on the server.
//
// docs/protocol.md specifies the wire format.
package rpc
