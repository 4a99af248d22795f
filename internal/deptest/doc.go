// Package deptest holds the test that enforces vnrpc's package arrows:
// the table under "Package arrows" in docs/architecture.md says what each
// package may import, and TestDependencyArrows holds every package to it.
// It has no code of its own.
package deptest
