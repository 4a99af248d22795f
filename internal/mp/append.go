package mp

// AppendStr appends s as a msgpack str in its shortest format, as
// msgpack/v5's Encoder.EncodeString does.
func AppendStr(b []byte, s string) []byte {
	if n := len(s); n < 32 {
		b = append(b, 0xa0|byte(n))
	} else {
		b = appendHead(b, 0xd9, n)
	}
	return append(b, s...)
}

// AppendBin appends p as a msgpack bin, or nil for a nil slice, as
// msgpack/v5's Encoder.EncodeBytes does.
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
