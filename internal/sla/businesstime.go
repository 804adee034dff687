package sla

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// AddBusinessTime returns the instant at which d of business time has
// elapsed after start. A start outside business hours begins counting at
// the next opening; d <= 0 returns start unchanged. A budget that runs out
// exactly at a closing time is reported as that closing time. The result is
// in the calendar's location.
func (c Calendar) AddBusinessTime(start time.Time, d time.Duration) time.Time {
	s := c.schedule()
	start = start.In(s.loc)
	if d <= 0 {
		return start
	}
	remaining := d
	var buf []interval
	// From the day before: cheap insurance that no span containing start is
	// missed, whatever a zone's history does around midnight.
	for day := s.dayOf(start) - 1; ; day++ {
		buf = s.intervals(day, buf[:0])
		for _, iv := range buf {
			if !iv.end.After(start) {
				continue
			}
			from := iv.start
			if start.After(from) {
				from = start
			}
			avail := iv.end.Sub(from)
			if remaining <= avail {
				return from.Add(remaining)
			}
			remaining -= avail
		}
	}
}

// BusinessTimeBetween returns the business time within [from, to), or 0 if
// to is not after from.
func (c Calendar) BusinessTimeBetween(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	s := c.schedule()
	var total time.Duration
	var buf []interval
	// One day of margin either side, for the same reason as in AddBusinessTime.
	last := s.dayOf(to) + 1
	for day := s.dayOf(from) - 1; day <= last; day++ {
		buf = s.intervals(day, buf[:0])
		for _, iv := range buf {
			lo, hi := iv.start, iv.end
			if from.After(lo) {
				lo = from
			}
			if to.Before(hi) {
				hi = to
			}
			if hi.After(lo) {
				total += hi.Sub(lo)
			}
		}
	}
	return total
}

// interval is a span resolved to instants on one day.
type interval struct{ start, end time.Time }

// schedule is a calendar prepared for one computation.
type schedule struct {
	loc      *time.Location
	week     *[7][]Span
	holidays []int64 // sorted day numbers
}

func (c *Calendar) schedule() schedule {
	loc := c.loc
	if loc == nil {
		var err error
		if loc, err = loadZone(c.Location); err != nil {
			panic(fmt.Sprintf("sla: calendar %q: Location: %v", c.Name, err))
		}
	}
	if !hasHours(c.Week) {
		// Without this every deadline search would loop forever.
		panic(fmt.Sprintf("sla: calendar %q has no business hours", c.Name))
	}
	hol := make([]int64, len(c.Holidays))
	for i, d := range c.Holidays {
		hol[i] = dayNumber(d.Year, d.Month, d.Day)
	}
	sort.Slice(hol, func(i, j int) bool { return hol[i] < hol[j] })
	return schedule{loc: loc, week: &c.Week, holidays: hol}
}

// dayOf returns the day number of t's local date.
func (s schedule) dayOf(t time.Time) int64 {
	y, m, d := t.In(s.loc).Date()
	return dayNumber(y, m, d)
}

// intervals appends the business intervals of the given local day.
func (s schedule) intervals(day int64, buf []interval) []interval {
	i := sort.Search(len(s.holidays), func(i int) bool { return s.holidays[i] >= day })
	if i < len(s.holidays) && s.holidays[i] == day {
		return buf
	}
	// Day 0 (1970-01-01) was a Thursday.
	wd := ((day+4)%7 + 7) % 7
	midnight := day * 86400
	for _, span := range s.week[wd] {
		start := wallInstant(s.loc, midnight+span.Start.seconds())
		end := wallInstant(s.loc, midnight+span.End.seconds())
		if end > start { // a span wholly inside a skipped hour is empty
			buf = append(buf, interval{time.Unix(start, 0).In(s.loc), time.Unix(end, 0).In(s.loc)})
		}
	}
	return buf
}

// dayNumber counts days since 1970-01-01; time.Date normalizes out-of-range days.
func dayNumber(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// wallInstant returns the first instant (Unix seconds) at which the local
// clock in loc reaches wall, given as seconds since 1970-01-01 00:00 local
// time. time.Date is not used because it leaves both the skipped and the
// repeated hour of a DST change unspecified.
func wallInstant(loc *time.Location, wall int64) int64 {
	best, found := int64(0), false
	minOff := int64(math.MaxInt64)
	// No zone is more than a day from UTC, so these probes see every offset
	// that can apply around wall.
	for _, probe := range [...]int64{wall - 86400, wall, wall + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		o := int64(off)
		minOff = min(minOff, o)
		u := wall - o
		if _, got := time.Unix(u, 0).In(loc).Zone(); int64(got) == o && (!found || u < best) {
			best, found = u, true
		}
	}
	if found {
		return best
	}
	// wall was skipped: the clock first reaches it at the jump, which is
	// where the zone in effect at the latest candidate begins.
	jump, _ := time.Unix(wall-minOff, 0).In(loc).ZoneBounds()
	return jump.Unix()
}
