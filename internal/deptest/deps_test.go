package deptest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/vnrpc/vnrpc"

// arrow is one row of the table in docs/architecture.md.
type arrow struct {
	pkg      string   // a package, or a subtree "x/..."
	internal []string // module packages it may import ("x/..." for a subtree)
	external []string // module paths outside the standard library it may import
}

// readArrows parses the table under "## Package arrows".
func readArrows(t *testing.T) []arrow {
	f, err := os.Open("../../docs/architecture.md")
	if err != nil {
		t.Fatalf("the package arrows live in docs/architecture.md: %v", err)
	}
	defer f.Close()
	var out []arrow
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "## "):
			in = l == "## Package arrows"
		case in && strings.HasPrefix(l, "| `"):
			cols := strings.Split(strings.Trim(l, "|"), "|")
			if len(cols) != 3 {
				t.Fatalf("architecture.md: a row of the arrows table has %d columns: %s", len(cols), l)
			}
			out = append(out, arrow{pkg: names(cols[0])[0], internal: names(cols[1]), external: names(cols[2])})
		}
	}
	if len(out) < 10 {
		t.Fatalf("architecture.md: the arrows table has %d rows; is the heading \"## Package arrows\" still there?", len(out))
	}
	return out
}

// names lists the `quoted` names of a table cell.
func names(cell string) []string {
	var out []string
	for _, f := range strings.Split(cell, "`") {
		if f = strings.TrimSpace(f); f != "" && f != "," && f != "—" && !strings.HasPrefix(f, ",") {
			out = append(out, f)
		}
	}
	return out
}

// match reports whether a module package (relative to the module) is
// pattern or, for "x/...", x or under it.
func match(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// inModule reports whether an outside import path belongs to module m.
func inModule(m, path string) bool { return path == m || strings.HasPrefix(path, m+"/") }

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// TestDependencyArrows holds every package to its row of the table in
// docs/architecture.md: it imports only what the row allows, and every
// package has a row.
func TestDependencyArrows(t *testing.T) {
	arrows := readArrows(t)
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std := stdPackages(t)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		var row *arrow
		for i := range arrows {
			if match(arrows[i].pkg, rel) {
				row = &arrows[i]
				break
			}
		}
		if row == nil {
			t.Errorf("%s has no row in the package arrows of docs/architecture.md: add one (what it may import, and why it belongs where it is)", rel)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			switch {
			case std[imp] || imp == "C":
			case strings.HasPrefix(imp, mod+"/"):
				r := strings.TrimPrefix(imp, mod+"/")
				if !allowed(row.internal, r, match) {
					t.Errorf("%s imports %s: docs/architecture.md allows it %v", rel, r, orNone(row.internal))
				}
			default:
				if !allowed(row.external, imp, inModule) {
					t.Errorf("%s imports %s: docs/architecture.md allows it %v from outside the standard library", rel, imp, orNone(row.external))
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: the module path or layout changed", checked)
	}
}

func allowed(patterns []string, path string, match func(pattern, path string) bool) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

func orNone(l []string) []string {
	if len(l) == 0 {
		return []string{"nothing"}
	}
	return l
}

// stdPackages lists the standard library's packages.
func stdPackages(t *testing.T) map[string]bool {
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		m[l] = true
	}
	return m
}
