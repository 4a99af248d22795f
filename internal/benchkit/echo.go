//go:build linux

package benchkit

import (
	"bufio"
	"errors"
	"io"
	"net"

	zmq "github.com/pebbe/zmq4"
)

// EchoServer serves the unix-socket echo baseline at path: every message
// (a 2-byte little-endian length in a 4-byte prefix, then the bytes) comes
// back as it was, with plain Go sockets. It returns when stop is closed.
func EchoServer(path string, ready func(), stop <-chan struct{}) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		<-stop
		_ = ln.Close()
	}()
	ready()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() { // ends with the connection, when the client closes it
			defer c.Close()
			r := bufio.NewReader(c)
			buf := make([]byte, 4+1<<16)
			for {
				if _, err := io.ReadFull(r, buf[:4]); err != nil {
					return
				}
				n := int(buf[0]) | int(buf[1])<<8
				if _, err := io.ReadFull(r, buf[4:4+n]); err != nil {
					return
				}
				if _, err := c.Write(buf[:4+n]); err != nil {
					return
				}
			}
		}()
	}
}

// EchoCaller connects to an EchoServer and returns a round trip of size
// bytes (at most 65535) and a close function.
func EchoCaller(path string, size int) (call func() error, closeFn func() error, err error) {
	if size > 1<<16-1 {
		return nil, nil, errors.New("benchkit: an echo message holds at most 65535 bytes")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, nil, err
	}
	msg := make([]byte, 4+size)
	msg[0], msg[1] = byte(size), byte(size>>8)
	in := make([]byte, len(msg))
	return func() error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, in)
		return err
	}, c.Close, nil
}

// RepServer serves the ZeroMQ REQ/REP baseline: a REP socket bound to addr
// (tcp://127.0.0.1:* or ipc://PATH) answers every request with itself.
// ready gets the bound endpoint. It runs until the process ends: a REP
// socket blocked in a receive cannot be woken otherwise, so it belongs in
// a helper process of its own.
func RepServer(addr string, ready func(endpoint string)) error {
	rep, err := zmq.NewSocket(zmq.REP)
	if err != nil {
		return err
	}
	if err := rep.Bind(addr); err != nil {
		return err
	}
	ep, err := rep.GetLastEndpoint()
	if err != nil {
		return err
	}
	ready(ep)
	for {
		msg, err := rep.RecvBytes(0)
		if err != nil {
			return nil
		}
		if _, err := rep.SendBytes(msg, 0); err != nil {
			return nil
		}
	}
}

// ReqCaller connects a REQ socket to a RepServer's endpoint and returns a
// round trip of size bytes and a close function.
func ReqCaller(endpoint string, size int) (call func() error, closeFn func() error, err error) {
	req, err := zmq.NewSocket(zmq.REQ)
	if err != nil {
		return nil, nil, err
	}
	_ = req.SetLinger(0)
	if err := req.Connect(endpoint); err != nil {
		_ = req.Close()
		return nil, nil, err
	}
	msg := make([]byte, size)
	return func() error {
		if _, err := req.SendBytes(msg, 0); err != nil {
			return err
		}
		_, err := req.RecvBytes(0)
		return err
	}, req.Close, nil
}
