package sla

import (
	"math"
	"time"
)

// Budget is an SLA clock: Target business time may be used before the SLA
// is breached. It pauses while the ticket waits on the requester and can be
// retargeted when the priority changes. It is a value with exported fields
// so it can live in workflow state and be serialized as JSON; every method
// returns a new Budget instead of changing the receiver.
type Budget struct {
	Target time.Duration `json:"target"`
	// Used is the business time consumed up to the last pause; time since
	// RunningSince is not included.
	Used time.Duration `json:"used"`
	// RunningSince is when the clock last started; nil while paused.
	RunningSince *time.Time `json:"running_since,omitempty"`
}

// NewBudget returns a budget of target business time, running from start.
func NewBudget(target time.Duration, start time.Time) Budget {
	return Budget{Target: target, RunningSince: &start}
}

// Running reports whether the clock is running.
func (b Budget) Running() bool { return b.RunningSince != nil }

// Pause stops the clock at `at`, adding the business time since it started
// to Used. Pausing a paused budget changes nothing.
func (b Budget) Pause(c Calendar, at time.Time) Budget {
	if b.RunningSince == nil {
		return b
	}
	b.Used += c.BusinessTimeBetween(*b.RunningSince, at)
	b.RunningSince = nil
	return b
}

// Resume restarts the clock at `at`. Resuming a running budget changes
// nothing, so a duplicated signal cannot hand back time already used.
func (b Budget) Resume(at time.Time) Budget {
	if b.RunningSince != nil {
		return b
	}
	b.RunningSince = &at
	return b
}

// Retarget changes the target, e.g. on a priority change. Time already used
// counts against the new target, so raising the priority can make the
// budget due immediately.
func (b Budget) Retarget(target time.Duration) Budget {
	b.Target = target
	return b
}

// Due returns when Used reaches Target if the clock keeps running. While
// paused there is no deadline and running is false. A budget already used up
// is due at RunningSince, which is in the past.
func (b Budget) Due(c Calendar) (due time.Time, running bool) {
	if b.RunningSince == nil {
		return time.Time{}, false
	}
	// Not At(c, 1): float64 would round targets beyond ~104 days.
	return c.AddBusinessTime(*b.RunningSince, b.Target-b.Used), true
}

// Remaining returns the business time left at `at`; negative once breached.
func (b Budget) Remaining(c Calendar, at time.Time) time.Duration {
	used := b.Used
	if b.RunningSince != nil {
		used += c.BusinessTimeBetween(*b.RunningSince, at)
	}
	return b.Target - used
}

// At returns when Used reaches fraction*Target if the clock keeps running,
// e.g. At(c, 0.75) for a warning at 75%. While paused, ok is false. A
// fraction already reached returns RunningSince.
func (b Budget) At(c Calendar, fraction float64) (at time.Time, ok bool) {
	if b.RunningSince == nil {
		return time.Time{}, false
	}
	goal := time.Duration(math.Round(fraction * float64(b.Target)))
	return c.AddBusinessTime(*b.RunningSince, goal-b.Used), true
}
