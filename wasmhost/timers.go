package wasmhost

import (
	"slices"
	"time"
)

// timer is Envoy's tick timer of one root context (Wasm::timer_period_, timer_).
type timer struct {
	period time.Duration
	t      *time.Timer
	gen    int
}

// Tick runs the tick of every root context whose timer is set, now and in the calling
// goroutine, as Envoy's timers do when their periods elapse. It is how a Manual host
// ticks; on other hosts the timers keep their own schedule.
func (h *Host) Tick() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]uint32, 0, len(h.timers))
	for id, t := range h.timers {
		if t.period > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var first error
	for _, id := range ids {
		if err := h.onTick(id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TickPeriod is the shortest tick period among the root contexts' timers, those of
// deleted contexts included; zero when no timer is set.
func (h *Host) TickPeriod() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var shortest time.Duration
	for _, t := range h.timers {
		if t.period > 0 && (shortest == 0 || t.period < shortest) {
			shortest = t.period
		}
	}
	return shortest
}

// Timers returns the tick period of every root context id whose timer is set, those
// of deleted contexts included: Envoy keeps re-arming them.
func (h *Host) Timers() map[uint32]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint32]time.Duration{}
	for id, t := range h.timers {
		if t.period > 0 {
			out[id] = t.period
		}
	}
	return out
}

// onTick runs proxy_on_tick for a root context if it still exists, as
// Wasm::tickHandler does. h.mu is held.
func (h *Host) onTick(id uint32) error {
	if h.closed || h.roots[id] == nil {
		return nil
	}
	_, err := h.call(id, "proxy_on_tick", uint64(id))
	return err
}

// tickHandler is Envoy's Wasm::tickHandler for a timer that fired: the tick of the
// root context if it still exists, then the timer re-armed while its period is set,
// whether or not the context is gone.
func (h *Host) tickHandler(id uint32, gen int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.timers[id]
	if t == nil || gen != t.gen || h.closed {
		return
	}
	if err := h.onTick(id); err != nil {
		h.opts.Log(4, "proxy_on_tick: "+err.Error())
	}
	if gen == t.gen && t.period > 0 {
		t.t = time.AfterFunc(t.period, func() { h.tickHandler(id, gen) })
	}
}

// setTimerPeriod follows Envoy's Wasm::setTimerPeriod for the timer of root context
// id: a new period replaces the timer and starts a fresh delay; 0 stops it. h.mu is
// held.
func (h *Host) setTimerPeriod(id uint32, period time.Duration) {
	t := h.timers[id]
	if t == nil {
		t = &timer{}
		h.timers[id] = t
	}
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	t.gen++
	t.period = period
	if period > 0 && !h.closed && !h.opts.Manual {
		gen := t.gen
		t.t = time.AfterFunc(period, func() { h.tickHandler(id, gen) })
	}
}
