//go:build linux

package lan

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// Keys is a CURVE key pair in Z85 text (40 characters each). A public-only
// value has an empty Secret.
type Keys struct {
	Public string
	Secret string
}

// NewKeys generates a CURVE key pair.
func NewKeys() (Keys, error) {
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		return Keys{}, fmt.Errorf("lan: generate keys: %w", err)
	}
	return Keys{Public: pub, Secret: sec}, nil
}

// WriteKeys writes k to path as "public = …" and, if k has one,
// "secret = …" lines. A file with a secret is created 0600; a public-only
// file (to hand to peers) 0644. An existing file is not overwritten.
func WriteKeys(path string, k Keys) error {
	mode := os.FileMode(0o644)
	body := "# vnrpc CURVE key (Z85)\npublic = " + k.Public + "\n"
	if k.Secret != "" {
		mode = 0o600
		body += "secret = " + k.Secret + "\n"
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("lan: write keys: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		_ = f.Close()
		return fmt.Errorf("lan: write keys: %w", err)
	}
	return f.Close()
}

// ReadKeys reads a key file written by WriteKeys. A file holding a secret
// must not be readable by others.
func ReadKeys(path string) (Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return Keys{}, fmt.Errorf("lan: read keys: %w", err)
	}
	defer f.Close()
	var k Keys
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch {
		case ok && name == "public":
			k.Public = val
		case ok && name == "secret":
			k.Secret = val
		default:
			return Keys{}, fmt.Errorf("lan: %s:%d: want \"public = KEY\" or \"secret = KEY\"", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		return Keys{}, fmt.Errorf("lan: read keys: %w", err)
	}
	if err := checkKey(k.Public); err != nil {
		return Keys{}, fmt.Errorf("lan: %s: public key: %w", path, err)
	}
	if k.Secret != "" {
		if err := checkKey(k.Secret); err != nil {
			return Keys{}, fmt.Errorf("lan: %s: secret key: %w", path, err)
		}
		if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
			return Keys{}, fmt.Errorf("lan: %s holds a secret key but is mode %04o; chmod 600 it", path, st.Mode().Perm())
		}
		pub, err := zmq.AuthCurvePublic(k.Secret)
		if err != nil || pub != k.Public {
			return Keys{}, fmt.Errorf("lan: %s: the public key does not belong to the secret key", path)
		}
	}
	return k, nil
}

// ReadAuthorized reads the public keys of the clients a server admits:
// one Z85 key per line, or "public = KEY" lines (so client key files can
// be concatenated); '#' starts a comment.
func ReadAuthorized(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lan: authorized keys: %w", err)
	}
	var keys []string
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "secret") {
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok && strings.TrimSpace(name) == "public" {
			line = strings.TrimSpace(val)
		}
		if err := checkKey(line); err != nil {
			return nil, fmt.Errorf("lan: %s:%d: %w", path, n+1, err)
		}
		keys = append(keys, line)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("lan: %s lists no keys", path)
	}
	return keys, nil
}

// z85 is the Z85 alphabet (ZeroMQ RFC 32).
const z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// checkKey validates a Z85 key in Go, so malformed text never reaches libzmq.
func checkKey(k string) error {
	if len(k) != 40 || strings.IndexFunc(k, func(r rune) bool { return !strings.ContainsRune(z85, r) }) >= 0 {
		return errors.New("not a 40-character Z85 CURVE key")
	}
	return nil
}

// LoadServerCurve reads a server's CURVE configuration from key files:
// its key pair (written by `vnrpc keys`) and the file of the client
// public keys it admits (ReadAuthorized). Both empty is no CURVE (nil,
// nil); one without the other is an error.
func LoadServerCurve(keyFile, authorizedFile string) (*ServerCurve, error) {
	if keyFile == "" && authorizedFile == "" {
		return nil, nil
	}
	if keyFile == "" || authorizedFile == "" {
		return nil, errors.New("lan: CURVE needs both the server's key file and the authorized client keys file")
	}
	keys, err := ReadKeys(keyFile)
	if err != nil {
		return nil, err
	}
	if keys.Secret == "" {
		return nil, fmt.Errorf("lan: %s holds no secret key: a server needs its key pair (NAME.key from vnrpc keys)", keyFile)
	}
	auth, err := ReadAuthorized(authorizedFile)
	if err != nil {
		return nil, err
	}
	return &ServerCurve{Keys: keys, Authorized: auth}, nil
}

// LoadClientCurve reads a client's CURVE configuration from key files:
// its own key pair and the server's public key. Both empty is no CURVE
// (nil, nil); one without the other is an error.
func LoadClientCurve(keyFile, serverKeyFile string) (*ClientCurve, error) {
	if keyFile == "" && serverKeyFile == "" {
		return nil, nil
	}
	if keyFile == "" || serverKeyFile == "" {
		return nil, errors.New("lan: CURVE needs both this client's key file and the server's public key file")
	}
	keys, err := ReadKeys(keyFile)
	if err != nil {
		return nil, err
	}
	if keys.Secret == "" {
		return nil, fmt.Errorf("lan: %s holds no secret key: a client needs its key pair (NAME.key from vnrpc keys)", keyFile)
	}
	server, err := ReadKeys(serverKeyFile)
	if err != nil {
		return nil, err
	}
	return &ClientCurve{Keys: keys, ServerPublic: server.Public}, nil
}
