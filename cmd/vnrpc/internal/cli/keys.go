package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vnrpc/vnrpc/lan"
)

// keysCmd writes a CURVE key pair: NAME.key (public and secret, 0600) and
// NAME.pub (public only, to give to the other side).
func keysCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "directory to write the key files into")
	name := fs.String("name", "server", "base name of the files: NAME.key (secret, 0600) and NAME.pub")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: vnrpc keys [--dir DIR] [--name NAME]

Generates a CURVE key pair for the LAN transport (ZeroMQ over TCP). The
server needs server.key and the authorized clients' .pub files (concatenated
into one authorized-keys file); each client needs its own NAME.key and the
server's server.pub. Existing files are never overwritten.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *name == "" || filepath.Base(*name) != *name {
		return usageErr("name %q: want a plain file name", *name)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	k, err := lan.NewKeys()
	if err != nil {
		return err
	}
	secret, public := filepath.Join(*dir, *name+".key"), filepath.Join(*dir, *name+".pub")
	if err := lan.WriteKeys(secret, k); err != nil {
		return err
	}
	if err := lan.WriteKeys(public, lan.Keys{Public: k.Public}); err != nil {
		_ = os.Remove(secret)
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (secret, keep it private) and %s (public)\npublic key: %s\n", secret, public, k.Public)
	return nil
}
