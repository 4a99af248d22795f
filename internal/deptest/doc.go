// Package deptest holds the test that enforces vnrpc's package arrows
// (design.md §2, style.md §2.1). It has no code of its own.
package deptest
