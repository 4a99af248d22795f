package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// benchProgram is the benchmark suite's program: a separate binary, so
// that vnrpc itself does not link the baselines' libraries.
const benchProgram = "vnrpc-bench"

// benchCmd runs vnrpc-bench with the same arguments, in this process's
// place: the one beside this executable, else the one on PATH.
func benchCmd(args []string) error {
	path, err := findBench()
	if err != nil {
		return err
	}
	argv := append([]string{benchProgram}, args...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("run %s: %w", path, err)
	}
	return nil // not reached: Exec replaced this process
}

func findBench() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), benchProgram)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(benchProgram)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("the benchmark suite is a program of its own, %s, and it is neither beside this vnrpc "+
			"nor on PATH: build both with `make build` (into bin/) or `go build -o bin/ ./cmd/...`", benchProgram)
	}
	return "", err
}
