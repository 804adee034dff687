package sla

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	// Every binary that computes a deadline carries the same zone
	// database, whatever the machine has installed: two workers never
	// disagree about when business hours start (TestZoneDataIsLinked).
	_ "time/tzdata"
)

// Calendar is when the help desk works: weekly business hours in a time
// zone, minus holidays. It is plain data so it can travel in workflow input
// and state; build it with ParseCalendar or check it with Validate.
type Calendar struct {
	Name     string
	Location string    // IANA zone, e.g. "Europe/Berlin"
	Week     [7][]Span // indexed by time.Weekday; sorted, non-overlapping; empty = closed
	Holidays []Date    // whole local days closed

	// loc caches the loaded zone. It is lost when the calendar is decoded
	// from workflow state, in which case the package zone cache is used.
	loc *time.Location
}

// Span is a stretch of business hours within one local day.
type Span struct{ Start, End Clock }

// Clock is a local time of day. 24:00 is allowed as a span's end and means
// the following midnight.
type Clock struct{ Hour, Minute int }

// Date is a local calendar day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String formats the clock as HH:MM, the form ParseCalendar reads.
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// String formats the date as YYYY-MM-DD, the form ParseCalendar reads.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

func (c Clock) seconds() int64 { return int64(c.Hour)*3600 + int64(c.Minute)*60 }

// CalendarSpec is a calendar as written in configuration files.
// Hours maps "mon".."sun" to spans like "09:00-17:00"; a missing day is closed.
type CalendarSpec struct {
	Name     string              `json:"name" yaml:"name"`
	TimeZone string              `json:"time_zone" yaml:"time_zone"`
	Hours    map[string][]string `json:"hours" yaml:"hours"`
	Holidays []string            `json:"holidays" yaml:"holidays"`
}

// dayKeys are the spec's day names, indexed by time.Weekday.
var dayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// specDayOrder is the order problems are reported in: the working week first,
// as people read it.
var specDayOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// ParseCalendar turns a configuration spec into a validated Calendar. Every
// problem is reported, each prefixed by the spec field it concerns
// (e.g. "hours.mon[0]: end before start").
func ParseCalendar(spec CalendarSpec) (Calendar, error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	cal := Calendar{Name: spec.Name, Location: spec.TimeZone}
	if strings.TrimSpace(spec.Name) == "" {
		fail("name", "required")
	}
	if loc, err := loadZone(spec.TimeZone); err != nil {
		fail("time_zone", "%v", err)
	} else {
		cal.loc = loc
	}

	hoursErrsBefore := len(errs)
	// Sorted so unknown days are reported in the same order every time.
	keys := make([]string, 0, len(spec.Hours))
	for k := range spec.Hours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if weekdayOf(k) < 0 {
			fail("hours."+k, "unknown day (want one of mon, tue, wed, thu, fri, sat, sun)")
		}
	}
	for _, wd := range specDayOrder {
		key := dayKeys[wd]
		for i, raw := range spec.Hours[key] {
			field := fmt.Sprintf("hours.%s[%d]", key, i)
			span, err := parseSpan(raw)
			if err != nil {
				fail(field, "%v", err)
				continue
			}
			if err := checkSpan(span, cal.Week[wd]); err != nil {
				fail(field, "%v (%q)", err, raw)
				continue
			}
			cal.Week[wd] = append(cal.Week[wd], span)
		}
	}
	// Only when every span parsed: otherwise the real problem is already reported.
	if !hasHours(cal.Week) && len(errs) == hoursErrsBefore {
		fail("hours", "no business hours in the week")
	}

	for i, raw := range spec.Holidays {
		d, err := parseDate(raw)
		if err != nil {
			fail(fmt.Sprintf("holidays[%d]", i), "%v", err)
			continue
		}
		cal.Holidays = append(cal.Holidays, d)
	}

	if len(errs) > 0 {
		return Calendar{}, fmt.Errorf("sla: calendar %q: %w", spec.Name, errors.Join(errs...))
	}
	return cal, nil
}

// AlwaysOpen is the 24x7 calendar in UTC, for SLAs that count wall-clock time.
func AlwaysOpen() Calendar {
	c := Calendar{Name: "24x7", Location: "UTC", loc: time.UTC}
	for wd := range c.Week {
		c.Week[wd] = []Span{{Start: Clock{0, 0}, End: Clock{24, 0}}}
	}
	return c
}

// Validate reports whether the calendar can be computed with: a loadable
// zone, well-formed sorted spans, at least one open hour a week and real
// holiday dates. Use it on calendars that were not built by ParseCalendar.
func (c Calendar) Validate() error {
	var errs []error
	if _, err := loadZone(c.Location); err != nil {
		errs = append(errs, fmt.Errorf("Location: %w", err))
	}
	for wd := range c.Week {
		for i, span := range c.Week[wd] {
			if err := checkSpan(span, c.Week[wd][:i]); err != nil {
				errs = append(errs, fmt.Errorf("Week[%s][%d]: %w", time.Weekday(wd), i, err))
			}
		}
	}
	if !hasHours(c.Week) {
		errs = append(errs, errors.New("Week: no business hours in the week"))
	}
	for i, d := range c.Holidays {
		if !d.valid() {
			errs = append(errs, fmt.Errorf("Holidays[%d]: %s is not a date", i, d))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sla: calendar %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// checkSpan checks one span against the spans before it on the same day.
// Touching spans (12:00 end, 12:00 start) are allowed.
func checkSpan(s Span, before []Span) error {
	if !s.Start.valid(false) {
		return fmt.Errorf("start %s is not a time of day", s.Start)
	}
	if !s.End.valid(true) {
		return fmt.Errorf("end %s is not a time of day", s.End)
	}
	if s.End.seconds() < s.Start.seconds() {
		return errors.New("end before start (split overnight hours across two days)")
	}
	if s.End.seconds() == s.Start.seconds() {
		return errors.New("empty span")
	}
	if n := len(before); n > 0 && s.Start.seconds() < before[n-1].End.seconds() {
		return fmt.Errorf("starts before the previous span ends at %s (spans must be sorted and not overlap)", before[n-1].End)
	}
	return nil
}

func (c Clock) valid(allow24 bool) bool {
	if allow24 && c.Hour == 24 && c.Minute == 0 {
		return true
	}
	return c.Hour >= 0 && c.Hour < 24 && c.Minute >= 0 && c.Minute < 60
}

func (d Date) valid() bool {
	y, m, day := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Date()
	return y == d.Year && m == d.Month && day == d.Day
}

func hasHours(week [7][]Span) bool {
	for _, day := range week {
		if len(day) > 0 {
			return true
		}
	}
	return false
}

func weekdayOf(key string) int {
	for i, k := range dayKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// parseSpan reads "HH:MM-HH:MM".
func parseSpan(raw string) (Span, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(raw), "-")
	if !ok {
		return Span{}, fmt.Errorf("%q is not a span like 09:00-17:00", raw)
	}
	start, err := parseClock(from)
	if err != nil {
		return Span{}, fmt.Errorf("start: %w", err)
	}
	end, err := parseClock(to)
	if err != nil {
		return Span{}, fmt.Errorf("end: %w", err)
	}
	return Span{Start: start, End: end}, nil
}

// parseClock reads "HH:MM" (or "H:MM"); range checks are left to checkSpan
// so they are the same for parsed and hand-built calendars.
func parseClock(raw string) (Clock, error) {
	raw = strings.TrimSpace(raw)
	h, m, ok := strings.Cut(raw, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return Clock{}, fmt.Errorf("%q is not a time like 09:00", raw)
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || minute < 0 {
		return Clock{}, fmt.Errorf("%q is not a time like 09:00", raw)
	}
	return Clock{Hour: hour, Minute: minute}, nil
}

func parseDate(raw string) (Date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(raw))
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date like 2026-12-25", raw)
	}
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// zones caches loaded locations by name: loading reads the zoneinfo files,
// and calendars decoded from workflow state arrive without a loaded zone.
var zones sync.Map // string -> *time.Location

// LoadZone loads an IANA zone the way calendars do, for other zones people
// choose (a user's time zone): "" and "Local" are refused, and the zone
// database linked into the binary answers when the machine has none.
func LoadZone(name string) (*time.Location, error) { return loadZone(name) }

// loadZone loads an IANA zone. "" and "Local" are refused because they mean
// UTC or the worker machine's zone, and deadlines must not depend on which
// worker computes them.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, errors.New("required (an IANA zone such as Europe/Berlin)")
	case "Local":
		return nil, errors.New(`"Local" depends on the machine; name an IANA zone`)
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	zones.Store(name, loc)
	return loc, nil
}
