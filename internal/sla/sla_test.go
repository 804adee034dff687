package sla

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Test calendars. Dates in the cases were checked by hand: 2026-01-05 and
// 2026-03-02 are Mondays; DST changes in 2026 are 03-08 and 11-01 in
// America/New_York and 03-29 and 10-25 in Europe/Berlin (all Sundays).
var (
	weekdays = []string{"09:00-17:00"}
	// berlin is the usual office: Mon–Fri 09:00–17:00, with a made-up
	// holiday on Monday 2026-01-19 and the Easter and May holidays.
	berlin = CalendarSpec{Name: "berlin", TimeZone: "Europe/Berlin",
		Hours:    map[string][]string{"mon": weekdays, "tue": weekdays, "wed": weekdays, "thu": weekdays, "fri": weekdays, "sat": {}, "sun": {}},
		Holidays: []string{"2026-01-19", "2026-04-03", "2026-04-06", "2026-05-01"}}
	// split has a lunch break and weekend hours that run through midnight.
	split = CalendarSpec{Name: "split", TimeZone: "Europe/Berlin", Hours: map[string][]string{
		"mon": {"09:00-12:00", "13:00-17:30"}, "tue": {"09:00-12:00", "13:00-17:30"},
		"wed": {"09:00-12:00", "13:00-17:30"}, "thu": {"09:00-12:00", "13:00-17:30"},
		"fri": {"09:00-12:00", "13:00-17:30"}, "sat": {"20:00-24:00"}, "sun": {"00:00-02:00"}}}
	nyAllDay    = everyDay("ny", "America/New_York", "00:00-24:00")
	berlinNight = everyDay("night", "Europe/Berlin", "01:00-04:00") // spans both DST changes
	berlinGap   = everyDay("gap", "Europe/Berlin", "02:30-05:00")   // starts inside the skipped hour
	berlinTwice = everyDay("twice", "Europe/Berlin", "02:00-02:30") // inside the repeated hour
	saoPaulo    = CalendarSpec{Name: "sp", TimeZone: "America/Sao_Paulo", Hours: map[string][]string{"sat": {"23:00-24:00"}, "sun": {"00:00-01:00"}}}
)

func everyDay(name, zone, span string) CalendarSpec {
	h := map[string][]string{}
	for _, d := range dayKeys {
		h[d] = []string{span}
	}
	return CalendarSpec{Name: name, TimeZone: zone, Hours: h}
}

func mustCal(t testing.TB, spec CalendarSpec) Calendar {
	t.Helper()
	c, err := ParseCalendar(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ts parses an RFC 3339 instant; offsets are written out so every expected
// instant in the tables is unambiguous.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAddBusinessTime(t *testing.T) {
	cases := []struct {
		name  string
		cal   CalendarSpec
		start string
		d     time.Duration
		want  string
	}{
		{"full day ends at closing, not next opening", berlin, "2026-01-05T09:00:00+01:00", 8 * time.Hour, "2026-01-05T17:00:00+01:00"},
		{"start at opening", berlin, "2026-01-05T09:00:00+01:00", time.Hour, "2026-01-05T10:00:00+01:00"},
		{"start before opening", berlin, "2026-01-05T07:00:00+01:00", time.Hour, "2026-01-05T10:00:00+01:00"},
		{"start exactly at closing", berlin, "2026-01-05T17:00:00+01:00", time.Hour, "2026-01-06T10:00:00+01:00"},
		{"friday afternoon rolls over the weekend", berlin, "2026-01-09T16:00:00+01:00", 2 * time.Hour, "2026-01-12T10:00:00+01:00"},
		{"saturday start waits for monday", berlin, "2026-01-10T11:00:00+01:00", 30 * time.Minute, "2026-01-12T09:30:00+01:00"},
		{"zero duration leaves start unchanged", berlin, "2026-01-10T11:00:00+01:00", 0, "2026-01-10T11:00:00+01:00"},
		{"negative duration leaves start unchanged", berlin, "2026-01-05T10:00:00+01:00", -time.Hour, "2026-01-05T10:00:00+01:00"},
		{"monday holiday skipped", berlin, "2026-01-16T16:00:00+01:00", 2 * time.Hour, "2026-01-20T10:00:00+01:00"},
		{"start given in UTC", berlin, "2026-01-09T15:00:00Z", 2 * time.Hour, "2026-01-12T10:00:00+01:00"},
		{"start given in New York time", berlin, "2026-01-09T10:00:00-05:00", 2 * time.Hour, "2026-01-12T10:00:00+01:00"},
		{"sub-second start kept", berlin, "2026-01-05T09:00:00.5+01:00", time.Hour, "2026-01-05T10:00:00.5+01:00"},
		{"400h over ten weeks and a holiday", berlin, "2026-01-05T09:00:00+01:00", 400 * time.Hour, "2026-03-16T17:00:00+01:00"},
		{"400h across DST and three holidays", berlin, "2026-03-02T09:00:00+01:00", 400 * time.Hour, "2026-05-13T17:00:00+02:00"},

		{"lunch break skipped", split, "2026-01-05T11:00:00+01:00", 2 * time.Hour, "2026-01-05T14:00:00+01:00"},
		{"start during lunch", split, "2026-01-05T12:00:00+01:00", 30 * time.Minute, "2026-01-05T13:30:00+01:00"},
		{"ends at a half-hour closing", split, "2026-01-05T09:00:00+01:00", 7*time.Hour + 30*time.Minute, "2026-01-05T17:30:00+01:00"},
		{"saturday span ending 24:00 continues sunday", split, "2026-01-10T23:00:00+01:00", 3 * time.Hour, "2026-01-11T02:00:00+01:00"},
		{"friday closing to saturday evening", split, "2026-01-09T17:30:00+01:00", time.Hour, "2026-01-10T21:00:00+01:00"},

		{"spring forward: 23h day", nyAllDay, "2026-03-08T00:00:00-05:00", 24 * time.Hour, "2026-03-09T01:00:00-04:00"},
		{"spring forward: 23h is exactly the day", nyAllDay, "2026-03-08T00:00:00-05:00", 23 * time.Hour, "2026-03-09T00:00:00-04:00"},
		{"fall back: 25h day", nyAllDay, "2026-11-01T00:00:00-04:00", 24 * time.Hour, "2026-11-01T23:00:00-05:00"},
		{"fall back: 25h is exactly the day", nyAllDay, "2026-11-01T00:00:00-04:00", 25 * time.Hour, "2026-11-02T00:00:00-05:00"},
		{"fall back: start in the repeated hour", nyAllDay, "2026-11-01T01:30:00-05:00", time.Hour, "2026-11-01T02:30:00-05:00"},

		{"span over skipped hour: 2h that day", berlinNight, "2026-03-29T01:00:00+01:00", 2 * time.Hour, "2026-03-29T04:00:00+02:00"},
		{"span over skipped hour: lands after the jump", berlinNight, "2026-03-29T01:00:00+01:00", 90 * time.Minute, "2026-03-29T03:30:00+02:00"},
		{"span over skipped hour: spills to next day", berlinNight, "2026-03-28T04:00:00+01:00", 150 * time.Minute, "2026-03-30T01:30:00+02:00"},
		{"span over repeated hour: 4h that day", berlinNight, "2026-10-25T01:00:00+02:00", 4 * time.Hour, "2026-10-25T04:00:00+01:00"},
		{"span over repeated hour: counts both 02:00s", berlinNight, "2026-10-25T01:00:00+02:00", 3 * time.Hour, "2026-10-25T03:00:00+01:00"},
		{"span starting in skipped hour opens at the jump", berlinGap, "2026-03-29T00:00:00+01:00", time.Hour, "2026-03-29T04:00:00+02:00"},
		{"span in repeated hour uses first occurrence", berlinTwice, "2026-10-25T00:00:00+02:00", 30 * time.Minute, "2026-10-25T02:30:00+02:00"},
		{"second occurrence of the hour is closed", berlinTwice, "2026-10-25T02:10:00+01:00", 10 * time.Minute, "2026-10-26T02:10:00+01:00"},
		{"clock falls back across midnight", saoPaulo, "2018-02-17T23:30:00-03:00", 30 * time.Minute, "2018-02-18T00:00:00-03:00"},

		{"always open is plain arithmetic", CalendarSpec{}, "2026-03-08T01:59:00-05:00", 1000 * time.Hour, "2026-04-18T22:59:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cal := AlwaysOpen()
			if tc.cal.Name != "" {
				cal = mustCal(t, tc.cal)
			}
			got := cal.AddBusinessTime(ts(t, tc.start), tc.d)
			want := ts(t, tc.want)
			if !got.Equal(want) {
				t.Errorf("AddBusinessTime(%s, %v) = %s, want %s", tc.start, tc.d, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
			if got.Location().String() != cal.Location {
				t.Errorf("result in %s, want the calendar's %s", got.Location(), cal.Location)
			}
		})
	}
}

func TestBusinessTimeBetween(t *testing.T) {
	cases := []struct {
		name     string
		cal      CalendarSpec
		from, to string
		want     time.Duration
	}{
		{"one working week", berlin, "2026-01-05T00:00:00+01:00", "2026-01-12T00:00:00+01:00", 40 * time.Hour},
		{"inside one span", berlin, "2026-01-05T10:15:00+01:00", "2026-01-05T11:45:00+01:00", 90 * time.Minute},
		{"holiday monday excluded", berlin, "2026-01-16T00:00:00+01:00", "2026-01-21T00:00:00+01:00", 16 * time.Hour},
		{"march 2026 has 22 working days", berlin, "2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00", 176 * time.Hour},
		{"weekend only", berlin, "2026-01-10T00:00:00+01:00", "2026-01-12T09:00:00+01:00", 0},
		{"to before from", berlin, "2026-01-05T12:00:00+01:00", "2026-01-05T10:00:00+01:00", 0},
		{"empty range", berlin, "2026-01-05T12:00:00+01:00", "2026-01-05T12:00:00+01:00", 0},
		{"bounds in other zones", berlin, "2026-01-05T08:00:00Z", "2026-01-05T10:00:00-05:00", 7 * time.Hour},
		{"lunch excluded", split, "2026-01-05T11:00:00+01:00", "2026-01-05T14:00:00+01:00", 2 * time.Hour},
		{"weekend across midnight", split, "2026-01-10T00:00:00+01:00", "2026-01-12T00:00:00+01:00", 6 * time.Hour},
		{"spring forward day is 23h", nyAllDay, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", 23 * time.Hour},
		{"fall back day is 25h", nyAllDay, "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", 25 * time.Hour},
		{"01:00-04:00 on spring forward is 2h", berlinNight, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 2 * time.Hour},
		{"01:00-04:00 on fall back is 4h", berlinNight, "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 4 * time.Hour},
		{"02:30-05:00 on spring forward is 2h", berlinGap, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 2 * time.Hour},
		{"02:00-02:30 on fall back counts first occurrence", berlinTwice, "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 30 * time.Minute},
		// Sao Paulo fell back from Sunday 00:00 to Saturday 23:00: the clock
		// first reads Sunday 00:00 after the repeated hour, so Saturday's
		// 23:00-24:00 span is 2h and Sunday's 00:00-01:00 stays 1h.
		{"clock falls back across midnight", saoPaulo, "2018-02-17T23:00:00-02:00", "2018-02-17T23:45:00-03:00", 105 * time.Minute},
		{"clock falls back across midnight: whole weekend", saoPaulo, "2018-02-17T00:00:00-02:00", "2018-02-19T00:00:00-03:00", 3 * time.Hour},
		{"02:00-02:30 on spring forward is empty", berlinTwice, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cal := mustCal(t, tc.cal)
			if got := cal.BusinessTimeBetween(ts(t, tc.from), ts(t, tc.to)); got != tc.want {
				t.Errorf("BusinessTimeBetween(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

// isOpen is an independent model of business hours, read straight off the
// local clock, used to check the interval arithmetic minute by minute. It
// agrees with the documented semantics for the calendars it is used on.
func isOpen(c Calendar, loc *time.Location, t time.Time) bool {
	lt := t.In(loc)
	for _, h := range c.Holidays {
		if y, m, d := lt.Date(); h == (Date{y, m, d}) {
			return false
		}
	}
	clock := int64(lt.Hour()*3600 + lt.Minute()*60 + lt.Second())
	for _, s := range c.Week[lt.Weekday()] {
		if clock >= s.Start.seconds() && clock < s.End.seconds() {
			return true
		}
	}
	return false
}

func TestBusinessTimeBetweenMatchesMinuteModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	// Windows around weekends, holidays and both DST changes.
	bases := []string{"2026-01-16T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-27T00:00:00Z", "2026-10-23T00:00:00Z", "2026-10-30T00:00:00Z"}
	for _, spec := range []CalendarSpec{berlin, split, nyAllDay, berlinNight} {
		cal := mustCal(t, spec)
		loc, err := time.LoadLocation(cal.Location)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			base := ts(t, bases[rng.Intn(len(bases))])
			from := base.Add(time.Duration(rng.Intn(3*24*60)) * time.Minute)
			to := from.Add(time.Duration(rng.Intn(5*24*60)) * time.Minute)
			var want time.Duration
			for m := from; m.Before(to); m = m.Add(time.Minute) {
				if isOpen(cal, loc, m) {
					want += time.Minute
				}
			}
			if got := cal.BusinessTimeBetween(from, to); got != want {
				t.Fatalf("%s: BusinessTimeBetween(%s, %s) = %v, minute model says %v", spec.Name, from, to, got, want)
			}
		}
	}
}

func TestAddBusinessTimeInvertsBusinessTimeBetween(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	year := ts(t, "2026-01-01T00:00:00Z")
	for _, spec := range []CalendarSpec{berlin, split, nyAllDay, berlinNight, berlinGap, berlinTwice} {
		cal := mustCal(t, spec)
		for i := 0; i < 300; i++ {
			s := year.Add(time.Duration(rng.Int63n(int64(365 * 24 * time.Hour))))
			d := time.Duration(1 + rng.Int63n(int64(500*time.Hour)))
			end := cal.AddBusinessTime(s, d)
			if got := cal.BusinessTimeBetween(s, end); got != d {
				t.Fatalf("%s: BusinessTimeBetween(s, AddBusinessTime(s, %v)) = %v (s=%s)", spec.Name, d, got, s)
			}
			// The deadline is the earliest instant with d used: one
			// nanosecond earlier is short.
			if got := cal.BusinessTimeBetween(s, end.Add(-time.Nanosecond)); got != d-time.Nanosecond {
				t.Fatalf("%s: deadline %s for %v from %s is not the earliest", spec.Name, end, d, s)
			}
			// And the other way round: counting back never passes the target.
			to := s.Add(time.Duration(rng.Int63n(int64(60 * 24 * time.Hour))))
			if back := cal.AddBusinessTime(s, cal.BusinessTimeBetween(s, to)); back.After(to) {
				t.Fatalf("%s: AddBusinessTime(s, BusinessTimeBetween(s, %s)) = %s, after to", spec.Name, to, back)
			}
		}
	}
}

func TestAlwaysOpenIsPlainArithmetic(t *testing.T) {
	cal := AlwaysOpen()
	if err := cal.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	ny, _ := time.LoadLocation("America/New_York")
	for i := 0; i < 200; i++ {
		s := time.Unix(1_750_000_000+rng.Int63n(100_000_000), rng.Int63n(1e9)).In(ny)
		d := time.Duration(rng.Int63n(int64(2000 * time.Hour)))
		if got, want := cal.AddBusinessTime(s, d), s.Add(d); !got.Equal(want) {
			t.Fatalf("AddBusinessTime(%s, %v) = %s, want %s", s, d, got, want)
		}
		if got := cal.BusinessTimeBetween(s, s.Add(d)); got != d {
			t.Fatalf("BusinessTimeBetween over %v = %v", d, got)
		}
	}
}

func TestBudget(t *testing.T) {
	cal := mustCal(t, berlin)
	at := func(s string) time.Time { return ts(t, s) }
	mon9 := at("2026-01-05T09:00:00+01:00")

	b := NewBudget(8*time.Hour, mon9)
	checkDue(t, "fresh", cal, b, "2026-01-05T17:00:00+01:00")
	if warn, ok := b.At(cal, 0.75); !ok || !warn.Equal(at("2026-01-05T15:00:00+01:00")) {
		t.Errorf("At(0.75) = %s, %v; want Mon 15:00", warn, ok)
	}
	if got := b.Remaining(cal, at("2026-01-05T13:00:00+01:00")); got != 4*time.Hour {
		t.Errorf("Remaining at 13:00 = %v, want 4h", got)
	}

	// Pending from 11:00: no deadline while paused, time stops counting.
	paused := b.Pause(cal, at("2026-01-05T11:00:00+01:00"))
	if b.RunningSince == nil {
		t.Fatal("Pause changed the receiver")
	}
	if paused.Used != 2*time.Hour {
		t.Errorf("Used after pause = %v, want 2h", paused.Used)
	}
	if due, running := paused.Due(cal); running || !due.IsZero() {
		t.Errorf("Due while paused = %s, %v; want no deadline", due, running)
	}
	if _, ok := paused.At(cal, 0.75); ok {
		t.Error("At while paused reported a time")
	}
	if got := paused.Remaining(cal, at("2026-01-07T12:00:00+01:00")); got != 6*time.Hour {
		t.Errorf("Remaining while paused = %v, want 6h", got)
	}
	if again := paused.Pause(cal, at("2026-01-06T11:00:00+01:00")); again.Used != 2*time.Hour {
		t.Errorf("second Pause changed Used to %v", again.Used)
	}

	// The requester answers Monday evening: the clock restarts Tuesday 09:00.
	resumed := paused.Resume(at("2026-01-05T20:00:00+01:00"))
	checkDue(t, "resumed", cal, resumed, "2026-01-06T15:00:00+01:00")
	if warn, _ := resumed.At(cal, 0.75); !warn.Equal(at("2026-01-06T13:00:00+01:00")) {
		t.Errorf("At(0.75) after resume = %s, want Tue 13:00", warn)
	}
	if dup := resumed.Resume(at("2026-01-06T12:00:00+01:00")); !dup.RunningSince.Equal(*resumed.RunningSince) {
		t.Error("Resume of a running budget moved its start")
	}

	// A second pending period accumulates: Tue 09:00–10:30 used, and the
	// remaining 4h30m run Tue 14:00–17:00 and Wed 09:00–10:30.
	twice := resumed.Pause(cal, at("2026-01-06T10:30:00+01:00")).Resume(at("2026-01-06T14:00:00+01:00"))
	if twice.Used != 3*time.Hour+30*time.Minute {
		t.Errorf("Used after two pauses = %v, want 3h30m", twice.Used)
	}
	checkDue(t, "two pauses", cal, twice, "2026-01-07T10:30:00+01:00")

	// Priority raised: the time used so far counts against the new target.
	checkDue(t, "retarget 4h", cal, resumed.Retarget(4*time.Hour), "2026-01-06T11:00:00+01:00")
	// Already used up: due when the clock last started (Monday 20:00).
	breached := resumed.Retarget(time.Hour)
	checkDue(t, "retarget below used", cal, breached, "2026-01-05T20:00:00+01:00")
	if got := breached.Remaining(cal, at("2026-01-06T10:00:00+01:00")); got != -2*time.Hour {
		t.Errorf("Remaining after breach = %v, want -2h", got)
	}
}

func checkDue(t *testing.T, name string, cal Calendar, b Budget, want string) {
	t.Helper()
	due, running := b.Due(cal)
	if !running || !due.Equal(ts(t, want)) {
		t.Errorf("%s: Due = %s, %v; want %s", name, due.Format(time.RFC3339), running, want)
	}
}

// Budgets and calendars live in workflow state, so they must survive JSON.
func TestStateSurvivesJSON(t *testing.T) {
	cal := mustCal(t, berlin)
	b := NewBudget(8*time.Hour, ts(t, "2026-01-09T16:00:00+01:00")).Pause(cal, ts(t, "2026-01-09T16:30:00+01:00")).Resume(ts(t, "2026-01-12T09:00:00+01:00"))
	var state struct {
		Cal    Calendar
		Budget Budget
	}
	raw, err := json.Marshal(struct {
		Cal    Calendar
		Budget Budget
	}{cal, b})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		t.Fatal(err)
	}
	want, _ := b.Due(cal)
	got, running := state.Budget.Due(state.Cal)
	if !running || !got.Equal(want) || !want.Equal(ts(t, "2026-01-12T16:30:00+01:00")) {
		t.Errorf("Due after JSON round trip = %s, before %s", got, want)
	}
}

func TestParseCalendar(t *testing.T) {
	valid := func(edit func(*CalendarSpec)) CalendarSpec {
		s := CalendarSpec{Name: "berlin", TimeZone: "Europe/Berlin",
			Hours:    map[string][]string{"mon": {"09:00-12:00", "13:00-17:00"}, "sat": {"10:00-24:00"}, "sun": {}},
			Holidays: []string{"2026-12-25"}}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	cases := []struct {
		name string
		spec CalendarSpec
		want []string // substrings of the error; none means valid
	}{
		{"valid", valid(nil), nil},
		{"touching spans are fine", valid(func(s *CalendarSpec) { s.Hours["tue"] = []string{"09:00-12:00", "12:00-17:00"} }), nil},
		{"missing name", valid(func(s *CalendarSpec) { s.Name = "" }), []string{"name: required"}},
		{"missing zone", valid(func(s *CalendarSpec) { s.TimeZone = "" }), []string{"time_zone: required"}},
		{"unknown zone", valid(func(s *CalendarSpec) { s.TimeZone = "Mars/Olympus" }), []string{`time_zone: unknown time zone "Mars/Olympus"`}},
		{"machine zone", valid(func(s *CalendarSpec) { s.TimeZone = "Local" }), []string{"time_zone:", "depends on the machine"}},
		{"end before start", valid(func(s *CalendarSpec) { s.Hours["mon"] = []string{"17:00-09:00"} }), []string{"hours.mon[0]: end before start"}},
		{"empty span", valid(func(s *CalendarSpec) { s.Hours["mon"] = []string{"09:00-09:00"} }), []string{"hours.mon[0]: empty span"}},
		{"overlap", valid(func(s *CalendarSpec) { s.Hours["tue"] = []string{"09:00-12:00", "11:00-17:00"} }), []string{"hours.tue[1]: starts before the previous span ends at 12:00"}},
		{"unsorted", valid(func(s *CalendarSpec) { s.Hours["tue"] = []string{"13:00-17:00", "09:00-12:00"} }), []string{"hours.tue[1]: starts before"}},
		{"not a span", valid(func(s *CalendarSpec) { s.Hours["wed"] = []string{"9 to 5"} }), []string{`hours.wed[0]: "9 to 5" is not a span`}},
		{"bad clock", valid(func(s *CalendarSpec) { s.Hours["wed"] = []string{"09:00-5pm"} }), []string{"hours.wed[0]: end:"}},
		{"past midnight", valid(func(s *CalendarSpec) { s.Hours["thu"] = []string{"09:00-24:30"} }), []string{"hours.thu[0]: end 24:30 is not a time of day"}},
		{"hour 25", valid(func(s *CalendarSpec) { s.Hours["fri"] = []string{"25:00-26:00"} }), []string{"hours.fri[0]: start 25:00 is not a time of day"}},
		{"unknown day", valid(func(s *CalendarSpec) { s.Hours["funday"] = []string{"09:00-17:00"} }), []string{"hours.funday: unknown day"}},
		{"closed all week", valid(func(s *CalendarSpec) { s.Hours = map[string][]string{"mon": {}} }), []string{"hours: no business hours in the week"}},
		{"no hours at all", valid(func(s *CalendarSpec) { s.Hours = nil }), []string{"hours: no business hours in the week"}},
		{"impossible holiday", valid(func(s *CalendarSpec) { s.Holidays = []string{"2026-12-25", "2026-02-30"} }), []string{`holidays[1]: "2026-02-30" is not a date`}},
		{"every problem reported", valid(func(s *CalendarSpec) {
			s.TimeZone = "Nowhere"
			s.Hours["mon"] = []string{"17:00-09:00"}
			s.Holidays = []string{"soon"}
		}), []string{"time_zone:", "hours.mon[0]:", "holidays[0]:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCalendar(tc.spec)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseCalendarResult(t *testing.T) {
	cal, err := ParseCalendar(CalendarSpec{Name: "berlin", TimeZone: "Europe/Berlin",
		Hours:    map[string][]string{"mon": {"9:00-12:00", "13:00-17:30"}, "sat": {"20:00-24:00"}},
		Holidays: []string{"2026-12-25"}})
	if err != nil {
		t.Fatal(err)
	}
	var week [7][]Span
	week[time.Monday] = []Span{{Clock{9, 0}, Clock{12, 0}}, {Clock{13, 0}, Clock{17, 30}}}
	week[time.Saturday] = []Span{{Clock{20, 0}, Clock{24, 0}}}
	if cal.Name != "berlin" || cal.Location != "Europe/Berlin" || !reflect.DeepEqual(cal.Week, week) ||
		!reflect.DeepEqual(cal.Holidays, []Date{{2026, time.December, 25}}) {
		t.Errorf("ParseCalendar = %+v", cal)
	}
	if err := cal.Validate(); err != nil {
		t.Errorf("parsed calendar does not validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	open := AlwaysOpen()
	cases := []struct {
		name string
		edit func(*Calendar)
		want string // substring of the error; "" means valid
	}{
		{"always open", func(*Calendar) {}, ""},
		{"no zone", func(c *Calendar) { c.Location = "" }, "Location: required"},
		{"overlapping spans", func(c *Calendar) {
			c.Week[time.Monday] = []Span{{Clock{9, 0}, Clock{12, 0}}, {Clock{11, 0}, Clock{13, 0}}}
		}, "Week[Monday][1]: starts before"},
		{"bad minute", func(c *Calendar) { c.Week[time.Tuesday] = []Span{{Clock{9, 60}, Clock{12, 0}}} }, "Week[Tuesday][0]: start 09:60"},
		{"closed all week", func(c *Calendar) { c.Week = [7][]Span{} }, "Week: no business hours"},
		{"impossible holiday", func(c *Calendar) { c.Holidays = []Date{{2026, time.February, 30}} }, "Holidays[0]: 2026-02-30 is not a date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := open
			c.Week = open.Week // arrays copy; the span slices are replaced, never edited
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// A calendar with no open hours would make a deadline search run forever;
// it must fail loudly instead.
func TestClosedCalendarPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("AddBusinessTime on a calendar with no hours did not panic")
		}
	}()
	Calendar{Name: "closed", Location: "UTC"}.AddBusinessTime(time.Unix(0, 0), time.Hour)
}

func BenchmarkAddBusinessTime(b *testing.B) {
	cal := mustCal(b, berlin)
	start := ts(b, "2026-03-02T09:00:00+01:00")
	want := ts(b, "2026-05-13T17:00:00+02:00")
	b.ReportAllocs()
	for b.Loop() {
		if got := cal.AddBusinessTime(start, 400*time.Hour); !got.Equal(want) {
			b.Fatalf("got %s", got)
		}
	}
}
