package uds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// A frame is a 4-byte little-endian length followed by that many bytes of
// msgpack: an array whose first element is the frame kind.
//
//	request: [0, id uint64, method string, deadline int64, args bin]
//	reply:   [1, id uint64, code int, message string, result bin]
//
// deadline is Unix nanoseconds (0: none). code is 0 for success, else one
// of the Code constants. These are part of the wire format (see
// docs/protocol.md); change them only with a protocol version bump.
const (
	kindRequest = 0
	kindReply   = 1
	lenPrefix   = 4

	// DefaultMaxFrame bounds a frame's body unless Options say otherwise.
	DefaultMaxFrame = 4 << 20
)

// Request is a decoded request frame.
type Request struct {
	ID       uint64
	Method   string
	Deadline int64 // Unix ns; 0 means none
	Args     []byte
}

// Reply is a decoded reply frame.
type Reply struct {
	ID     uint64
	Code   Code
	Msg    string
	Result []byte
}

// appendFrame encodes one frame body with enc into buf after a length
// prefix, and fills the prefix in.
func appendFrame(buf *bytes.Buffer, enc *msgpack.Encoder, body func(*msgpack.Encoder) error) ([]byte, error) {
	buf.Reset()
	buf.Write(make([]byte, lenPrefix))
	enc.Reset(buf)
	if err := body(enc); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b, uint32(len(b)-lenPrefix))
	return b, nil
}

func encodeRequest(buf *bytes.Buffer, enc *msgpack.Encoder, r *Request) ([]byte, error) {
	return appendFrame(buf, enc, func(e *msgpack.Encoder) error {
		return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindRequest), e.EncodeUint64(r.ID),
			e.EncodeString(r.Method), e.EncodeInt64(r.Deadline), e.EncodeBytes(r.Args))
	})
}

func encodeReply(buf *bytes.Buffer, enc *msgpack.Encoder, r *Reply) ([]byte, error) {
	return appendFrame(buf, enc, func(e *msgpack.Encoder) error {
		return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindReply), e.EncodeUint64(r.ID),
			e.EncodeInt(int64(r.Code)), e.EncodeString(r.Msg), e.EncodeBytes(r.Result))
	})
}

// readFrame reads one frame body into buf (grown as needed) and returns it.
// A body longer than max is ErrFrameTooLarge; the stream is then unusable.
func readFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var p [lenPrefix]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(p[:]))
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: truncated frame: %w", ErrMalformed, err)
	}
	return buf, nil
}

// decodeFrame decodes a frame body as a request or a reply (exactly one
// of the results is non-nil). Args and Result are copies.
func decodeFrame(body []byte) (*Request, *Reply, error) {
	d := msgpack.NewDecoder(bytes.NewReader(body))
	bad := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("%w: %s", ErrMalformed, what)
		}
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	n, err := d.DecodeArrayLen()
	if err != nil || n != 5 {
		return nil, nil, bad(fmt.Sprintf("frame is not a 5-element array (%d)", n), err)
	}
	kind, err := d.DecodeUint8()
	if err != nil {
		return nil, nil, bad("kind", err)
	}
	id, err := d.DecodeUint64()
	if err != nil {
		return nil, nil, bad("id", err)
	}
	switch kind {
	case kindRequest:
		r := &Request{ID: id}
		if r.Method, err = d.DecodeString(); err != nil {
			return nil, nil, bad("method", err)
		}
		if r.Deadline, err = d.DecodeInt64(); err != nil {
			return nil, nil, bad("deadline", err)
		}
		if r.Args, err = d.DecodeBytes(); err != nil {
			return nil, nil, bad("args", err)
		}
		if d.Buffered().(*bytes.Reader).Len() != 0 {
			return nil, nil, bad("trailing bytes", nil)
		}
		return r, nil, nil
	case kindReply:
		r := &Reply{ID: id}
		code, err := d.DecodeInt()
		if err != nil {
			return nil, nil, bad("code", err)
		}
		r.Code = Code(code)
		if r.Msg, err = d.DecodeString(); err != nil {
			return nil, nil, bad("message", err)
		}
		if r.Result, err = d.DecodeBytes(); err != nil {
			return nil, nil, bad("result", err)
		}
		if d.Buffered().(*bytes.Reader).Len() != 0 {
			return nil, nil, bad("trailing bytes", nil)
		}
		return nil, r, nil
	}
	return nil, nil, bad(fmt.Sprintf("unknown frame kind %d", kind), nil)
}
