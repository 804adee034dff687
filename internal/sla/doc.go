// Package sla computes SLA deadlines in business time: how much working time
// has passed between two instants, when a budget of working time runs out,
// and an SLA clock (Budget) that pauses while a ticket waits on the requester.
//
// Everything here runs inside Temporal workflow code, so every function is
// deterministic: instants are passed in (never time.Now), nothing starts a
// goroutine, performs I/O after the calendar's zone is loaded, or iterates a
// map to decide a result.
//
// # Business hours
//
// A Calendar lists spans of local clock time per weekday in an IANA zone,
// minus whole-day holidays. A span's start and end are local clock times of
// that day, so a 09:00–17:00 span stays 09:00–17:00 across DST changes.
// A span covers the instants from the first moment the local clock reaches
// Start to the first moment it reaches End (24:00 is the next midnight):
//
//   - Clock times that do not exist (the skipped hour when clocks spring
//     forward) resolve to the moment of the jump, so 01:00–04:00 on
//     2026-03-29 in Europe/Berlin is 2h of business time and
//     00:00–24:00 on 2026-03-08 in America/New_York is 23h.
//   - Clock times that occur twice (when clocks fall back) resolve to the
//     first occurrence, so 00:00–24:00 on 2026-11-01 in America/New_York is
//     25h and 01:00–04:00 on 2026-10-25 in Europe/Berlin is 4h. Where the
//     clock fell back across midnight (America/Sao_Paulo, 2018-02-18), it
//     first reads Sunday 00:00 after the repeated Saturday hour, so that
//     hour belongs to Saturday's span ending at 24:00.
//
// Intervals are half-open, [start, end).
//
// # Boundaries
//
// AddBusinessTime returns the instant the budget is used up. When that is
// exactly a closing time it returns the closing time (8h from Monday 09:00
// is Monday 17:00, not Tuesday 09:00): a ticket answered at 17:00 is on time
// either way, and a reminder at 17:00 is more useful than one on Tuesday.
// A start outside business hours begins counting at the next opening.
// A zero or negative duration returns start unchanged (in the calendar's
// zone) rather than moving it to the next opening: nothing has to elapse.
//
// Results are always in the calendar's location, whatever zone the inputs
// were in.
//
// Calendar methods expect a valid calendar (ParseCalendar or Validate). They
// panic on an unloadable zone or a week without business hours, because a
// silently wrong deadline is worse than a failed workflow task, which
// Temporal retries until a fix is deployed.
//
// Zone rules come from the machine's zoneinfo database. Workers that replay
// the same workflow must share that database's version, or a replayed
// deadline near a changed rule could differ from the recorded one.
package sla
