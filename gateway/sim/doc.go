// Package sim is a simulated exchange behind the engine.Gateway contract,
// vnrpc's default gateway: a contract set (futures on the Chinese futures
// exchanges, stocks on SSE and SZSE), ticks from a seeded random walk with
// a 5-level book, matching of LIMIT, MARKET, FAK and FOK orders against
// that book with partial fills, cancels, rejects with reasons, positions
// with today's and yesterday's volume, an account with margin and
// mark-to-market pnl, and history bars.
//
// It is deterministic: the same seed, contracts, clock and calls give the
// same events, which is what tests and examples assert. With tick_rate 0
// the market moves only on Step. docs/sim.md gives the exchange's rules.
//
//	me.AddGateway(sim.New, "") // gateway "SIM"
//	me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 7}, "SIM")
package sim
