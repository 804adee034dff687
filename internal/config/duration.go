package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go syntax ("36h", "90m") or whole
// days with a "d" suffix ("7d", "1d12h"). A bare number other than 0 is an
// error, not seconds or days: `update_timeout: 10` says nothing about its
// unit, and guessing wrong is off by a factor of 86,400.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// ParseDuration accepts Go durations plus a leading "Nd" day component.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("want a duration such as 36h or 7d, got an empty value")
	}
	if s != "0" && isBareNumber(s) {
		return 0, fmt.Errorf("%s has no unit; write it with one, e.g. %[1]ss, %[1]sm, %[1]sh or %[1]sd", s)
	}
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a duration such as 36h or 7d, got %q", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 36h or 7d, got %q", orig)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return days + d, nil
}

// isBareNumber reports whether s is a number without a unit ("10", "1.5").
func isBareNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// UnmarshalYAML accepts "7d"-style strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return decodeYAMLDuration(n, ParseDuration, (*time.Duration)(d))
}

// MarshalYAML writes the canonical form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// decodeYAMLDuration parses a YAML scalar's text as written, whatever type
// YAML would give it (1 is an int to YAML, 1d a string); anything but a
// scalar fails to parse.
func decodeYAMLDuration(n *yaml.Node, parse func(string) (time.Duration, error), into *time.Duration) error {
	text := ""
	if n.Kind == yaml.ScalarNode {
		text = n.Value
	}
	v, err := parse(text)
	if err != nil {
		return &OptionError{Reason: err.Error()}
	}
	*into = v
	return nil
}

// DayDuration is a Duration in which a bare whole number counts days: the
// format the seed documented for audit_log_interval ("a positive integer in
// days", `audit_log_interval: 1`). Only options that were promised in days
// use it; everywhere else a bare number is an error (see Duration).
type DayDuration Duration

// D returns the value as a time.Duration.
func (d DayDuration) D() time.Duration { return time.Duration(d) }

func (d DayDuration) String() string { return Duration(d).String() }

// ParseDayDuration is ParseDuration, except that a bare whole number is a
// number of days.
func ParseDayDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must not be negative, got %d days", n)
		}
		if n > 100*365 {
			return 0, fmt.Errorf("%d days is more than a century", n)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return ParseDuration(s)
}

// UnmarshalYAML accepts a whole number of days or a duration string.
func (d *DayDuration) UnmarshalYAML(n *yaml.Node) error {
	return decodeYAMLDuration(n, ParseDayDuration, (*time.Duration)(d))
}

// MarshalYAML writes the canonical form ("1d", "12h").
func (d DayDuration) MarshalYAML() (any, error) { return d.String(), nil }
