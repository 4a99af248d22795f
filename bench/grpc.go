//go:build linux

package bench

import (
	"context"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The gRPC baseline: unary calls over a unix socket, with a codec that
// passes the payload bytes through (no protobuf), so the comparison is of
// transports and frameworks, not of encodings.

func init() { registerHelper("grpc-echo", grpcEcho) }

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("bench: grpc raw codec: %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("bench: grpc raw codec: %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "vnrpc-raw" }

const grpcMethod = "/vnrpc.bench.Echo/Echo"

var echoDesc = grpc.ServiceDesc{
	ServiceName: "vnrpc.bench.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(_ any, _ context.Context, dec func(any) error,
		_ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		return &in, nil
	}}},
}

// grpcEcho serves the echo method on VNRPC_SOCK until stdin closes.
func grpcEcho() error {
	ln, err := net.Listen("unix", os.Getenv("VNRPC_SOCK"))
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	s.RegisterService(&echoDesc, struct{}{})
	go func() {
		waitStdin()
		s.Stop()
	}()
	fmt.Println("ready")
	return s.Serve(ln)
}

// grpcClient dials the echo server at a unix socket path.
func grpcClient(path string) (call func(ctx context.Context, in, out *[]byte) error, closeFn func() error, err error) {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, in, out *[]byte) error {
		return conn.Invoke(ctx, grpcMethod, in, out)
	}, conn.Close, nil
}
