package deptest

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/vnrpc/vnrpc"

// rule forbids package pkg (and its subpackages when tree is set) to
// depend, directly or not, on any path with one of the forbidden prefixes.
type rule struct {
	pkg    string
	tree   bool
	forbid []string
	why    string
}

var rules = []rule{
	{"engine", false, []string{mod + "/", "net", "github.com/", "golang.org/x/"},
		"engine is the trading core: standard library only, no transport, encoding or gateway"},
	{"rpcservice/wire", false, []string{mod + "/gateway", mod + "/rpc", mod + "/uds", mod + "/lan", mod + "/ring", mod + "/shm", "net"},
		"rpcservice/wire is the trading schema: engine and msgpack only"},
	{"gateway", true, []string{mod + "/cmd", mod + "/bench", mod + "/console", mod + "/examples", mod + "/cmd"},
		"gateways are libraries: they must not reach up into commands, the benchmark suite or the console"},
	{"ring", true, []string{mod + "/", "net", "github.com/vmihailenco/", "github.com/pebbe/"},
		"ring knows nothing of trading, sockets or encodings; it takes a []byte"},
	{"shm", true, []string{mod + "/", "net", "github.com/vmihailenco/", "github.com/pebbe/"},
		"shm only maps memory"},
	{"uds", true, []string{mod + "/engine", mod + "/gateway", mod + "/ring", mod + "/shm"},
		"uds knows frames, not trading objects"},
	{"lan", true, []string{mod + "/engine", mod + "/gateway", mod + "/ring", mod + "/shm"},
		"lan knows frames, not trading objects"},
	{"rpc", true, []string{mod + "/engine", mod + "/gateway"}, "rpc is generic: no trading concepts"},
	{"console", true, []string{mod + "/cmd"},
		"the console is a library over an engine, its service and gateways: commands build on it, not it on them"},
}

// Nothing but the command itself may import these; the command (cmd/vnrpc
// and its internal/cli) runs the benchmark suite, so it may import bench.
var leaves = []string{mod + "/cmd", mod + "/examples", mod + "/bench"}

var mayImportBench = []string{mod + "/cmd/vnrpc", mod + "/cmd/vnrpc/internal/cli"}

func TestDependencyArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg, deps := f[0], f[1:]
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		for _, r := range rules {
			if rel != r.pkg && !(r.tree && strings.HasPrefix(rel, r.pkg+"/")) {
				continue
			}
			seen++
			for _, d := range deps {
				for _, bad := range r.forbid {
					if d == strings.TrimSuffix(bad, "/") || strings.HasPrefix(d, bad) && (strings.HasSuffix(bad, "/") || strings.HasPrefix(d, bad+"/")) {
						t.Errorf("%s depends on %s: %s", pkg, d, r.why)
					}
				}
			}
		}
		for _, d := range deps {
			for _, leaf := range leaves {
				if leaf == mod+"/bench" && slices.Contains(mayImportBench, pkg) {
					continue
				}
				if (d == leaf || strings.HasPrefix(d, leaf+"/")) && !strings.HasPrefix(pkg, leaf) {
					t.Errorf("%s imports %s: commands, examples and the benchmark suite are leaves", pkg, d)
				}
			}
		}
	}
	if seen < 2 {
		t.Fatalf("the rules matched only %d packages: the module path or layout changed", seen)
	}
}
