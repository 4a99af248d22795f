package mp

import (
	"encoding/binary"
	"math"
)

// The appenders write what msgpack/v5's Encoder writes for the same calls,
// so hand-written and reflective encodings of a message are the same bytes.

// AppendStr appends s as a msgpack str in its shortest format, as
// Encoder.EncodeString does.
func AppendStr(b []byte, s string) []byte {
	if n := len(s); n < 32 {
		b = append(b, 0xa0|byte(n))
	} else {
		b = appendHead(b, 0xd9, n)
	}
	return append(b, s...)
}

// AppendBin appends p as a msgpack bin, or nil for a nil slice, as
// Encoder.EncodeBytes does.
func AppendBin(b, p []byte) []byte {
	if p == nil {
		return append(b, 0xc0)
	}
	return append(appendHead(b, 0xc4, len(p)), p...)
}

// appendHead appends a str or bin header for n bytes: op8 (str8 0xd9,
// bin8 0xc4) with a 1-byte length, or the next two codes with a 2- or
// 4-byte one.
func appendHead(b []byte, op8 byte, n int) []byte {
	switch {
	case n < 1<<8:
		return append(b, op8, byte(n))
	case n < 1<<16:
		return append(b, op8+1, byte(n>>8), byte(n))
	}
	return append(b, op8+2, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendArrayLen appends an array header for n elements.
func AppendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// AppendFloat appends f as a float64.
func AppendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

// AppendInt64 appends n as an int64 in its fixed 9-byte form, as
// Encoder.EncodeInt64 does.
func AppendInt64(b []byte, n int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// AppendUint64 appends n as a uint64 in its fixed 9-byte form, as
// Encoder.EncodeUint64 does.
func AppendUint64(b []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcf), n)
}

// AppendInt appends n in its shortest form, as Encoder.EncodeInt does.
func AppendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 127, n < 0 && n >= -32:
		return append(b, byte(n))
	case n >= 0 && n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		return append(b, 0xcd, byte(n>>8), byte(n))
	case n >= 0 && n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return append(b, 0xd1, byte(n>>8), byte(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}
