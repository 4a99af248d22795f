package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// ErrMalformed marks every decoding failure: bad msgpack, a field of the
// wrong type, an unknown enum code.
var ErrMalformed = errors.New("wire: malformed message")

// ErrUnsupported: the value is not one of the engine objects wire encodes.
var ErrUnsupported = errors.New("wire: unsupported type")

// field is one named field of T and how to encode and decode it.
type field[T any] struct {
	key string
	enc func(*msgpack.Encoder, *T) error
	dec func(*msgpack.Decoder, *T) error
}

// codec encodes T as a msgpack map of its fields.
type codec[T any] struct {
	name   string
	fields []field[T]
	index  map[string]int
}

func newCodec[T any](name string, fields ...field[T]) *codec[T] {
	c := &codec[T]{name: name, fields: fields, index: make(map[string]int, len(fields))}
	for i, f := range fields {
		if _, dup := c.index[f.key]; dup {
			panic("wire: duplicate key " + f.key + " in " + name) // invariant: a static codec table lists a key twice (programmer error, caught at init)
		}
		c.index[f.key] = i
	}
	return c
}

func (c *codec[T]) encode(e *msgpack.Encoder, v *T) error {
	if err := e.EncodeMapLen(len(c.fields)); err != nil {
		return err
	}
	for i := range c.fields {
		f := &c.fields[i]
		if err := e.EncodeString(f.key); err != nil {
			return err
		}
		if err := f.enc(e, v); err != nil {
			return fmt.Errorf("wire: encode %s.%s: %w", c.name, f.key, err)
		}
	}
	return nil
}

// decode resets *v and fills it from a map; unknown keys are skipped.
func (c *codec[T]) decode(d *msgpack.Decoder, v *T) error {
	var zero T
	*v = zero
	n, err := d.DecodeMapLen()
	if err != nil {
		return malformed(c.name, "", err)
	}
	if n < 0 {
		return malformed(c.name, "", errors.New("nil instead of a map"))
	}
	for range n {
		key, err := d.DecodeString()
		if err != nil {
			return malformed(c.name, "", err)
		}
		i, ok := c.index[key]
		if !ok {
			if err := d.Skip(); err != nil {
				return malformed(c.name, key, err)
			}
			continue
		}
		if err := c.fields[i].dec(d, v); err != nil {
			return malformed(c.name, key, err)
		}
	}
	return nil
}

func malformed(typ, key string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, typ, err)
	}
	return fmt.Errorf("%w: %s.%s: %v", ErrMalformed, typ, key, err)
}

func str[T any](key string, p func(*T) *string) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error { return e.EncodeString(*p(v)) },
		func(d *msgpack.Decoder, v *T) (err error) { *p(v), err = d.DecodeString(); return }}
}

func f64[T any](key string, p func(*T) *float64) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error { return e.EncodeFloat64(*p(v)) },
		func(d *msgpack.Decoder, v *T) (err error) { *p(v), err = d.DecodeFloat64(); return }}
}

func i64[T any](key string, p func(*T) *int64) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error { return e.EncodeInt(*p(v)) },
		func(d *msgpack.Decoder, v *T) (err error) { *p(v), err = d.DecodeInt64(); return }}
}

func integer[T any](key string, p func(*T) *int) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error { return e.EncodeInt(int64(*p(v))) },
		func(d *msgpack.Decoder, v *T) (err error) { *p(v), err = d.DecodeInt(); return }}
}

func boolean[T any](key string, p func(*T) *bool) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error { return e.EncodeBool(*p(v)) },
		func(d *msgpack.Decoder, v *T) (err error) { *p(v), err = d.DecodeBool(); return }}
}

// tm encodes a time as int64 UTC nanoseconds, and the zero time as nil.
func tm[T any](key string, p func(*T) *time.Time) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error {
			t := *p(v)
			if t.IsZero() {
				return e.EncodeNil()
			}
			return e.EncodeInt(t.UnixNano())
		},
		func(d *msgpack.Decoder, v *T) error {
			c, err := d.PeekCode()
			if err != nil {
				return err
			}
			if c == msgpcode.Nil {
				*p(v) = time.Time{}
				return d.DecodeNil()
			}
			ns, err := d.DecodeInt64()
			if err != nil {
				return err
			}
			*p(v) = time.Unix(0, ns).UTC()
			return nil
		}}
}

// enumType is an engine enum: a uint8 with a stable code.
type enumType interface {
	~uint8
	String() string
}

func enum[T any, E enumType](key string, parse func(string) (E, error), p func(*T) *E) field[T] {
	return field[T]{key,
		func(e *msgpack.Encoder, v *T) error {
			s := (*p(v)).String()
			if strings.HasPrefix(s, "invalid(") { // engine enums' String for out-of-range values
				return fmt.Errorf("%s is not a valid %T", s, *p(v))
			}
			return e.EncodeString(s)
		},
		func(d *msgpack.Decoder, v *T) error {
			s, err := d.DecodeString()
			if err != nil {
				return err
			}
			*p(v), err = parse(s)
			return err
		}}
}

// book adds the 5 levels of one side of a tick as prefix_1 … prefix_5.
func book(prefix string, p func(*engine.Tick) *[5]float64) []field[engine.Tick] {
	out := make([]field[engine.Tick], 5)
	for i := range 5 {
		out[i] = f64(prefix+"_"+strconv.Itoa(i+1), func(t *engine.Tick) *float64 { return &p(t)[i] })
	}
	return out
}

// Marshal encodes v, a pointer to an engine object, as msgpack.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	if err := Encode(e, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes b into v, a pointer to an engine object. Trailing bytes
// after the object are an error.
func Unmarshal(b []byte, v any) error {
	if err := mp.Bounded(b); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r)
	if err := Decode(d, v); err != nil {
		return err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	return nil
}
