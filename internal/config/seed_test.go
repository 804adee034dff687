package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// The seed documented audit_log_interval as a whole number of days and
// status_transitions as a JSON object, {} for the built-in graph. Its
// values work as written, from the file and from the environment.
func TestSeedFormatsAreAccepted(t *testing.T) {
	builtIn := ticket.DefaultTransitions()
	with := func(changes map[string][]string) map[string][]string {
		m := ticket.DefaultTransitions()
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name        string
		file        string
		env         []string
		interval    time.Duration
		transitions map[string][]string
	}{
		{"the seed's own file", "enable_email_notifications: true\ndefault_priority: medium\nticket_expiration_days: 7\n" +
			"status_transitions: {}\nenable_escalation: true\naudit_log_interval: 1\n", nil, 24 * time.Hour, builtIn},
		{"interval in days", "audit_log_interval: 7\n", nil, 7 * 24 * time.Hour, builtIn},
		{"interval in days, quoted", "audit_log_interval: \"2\"\n", nil, 2 * 24 * time.Hour, builtIn},
		{"interval with a unit", "audit_log_interval: 12h\n", nil, 12 * time.Hour, builtIn},
		{"interval with a day unit", "audit_log_interval: 1d6h\n", nil, 30 * time.Hour, builtIn},
		{"interval from the environment", "", []string{"HELPDESK_AUDIT_LOG_INTERVAL=1"}, 24 * time.Hour, builtIn},
		{"environment wins over the file", "audit_log_interval: 3\n", []string{"HELPDESK_AUDIT_LOG_INTERVAL=6h"}, 6 * time.Hour, builtIn},
		{"empty transitions in the file", "status_transitions: {}\n", nil, 24 * time.Hour, builtIn},
		{"transitions with no value", "status_transitions:\n", nil, 24 * time.Hour, builtIn},
		{"empty transitions from the environment", "", []string{"HELPDESK_STATUS_TRANSITIONS={}"}, 24 * time.Hour, builtIn},
		{"one status changed in the file", "status_transitions: {resolved: [closed]}\n", nil, 24 * time.Hour,
			with(map[string][]string{"resolved": {"closed"}})},
		{"one status changed in the environment", "status_transitions: {resolved: [closed]}\n",
			[]string{`HELPDESK_STATUS_TRANSITIONS={"closed":[]}`}, 24 * time.Hour,
			with(map[string][]string{"resolved": {"closed"}, "closed": {}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadCase(t, c.file, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AuditLogInterval.D() != c.interval {
				t.Errorf("audit_log_interval = %s, want %s", cfg.AuditLogInterval.D(), c.interval)
			}
			if !reflect.DeepEqual(cfg.StatusTransitions, c.transitions) {
				t.Errorf("status_transitions = %v\nwant %v", cfg.StatusTransitions, c.transitions)
			}
		})
	}
}

// A bare number means days for audit_log_interval only. For every other
// duration it is refused with the option named and units suggested:
// `update_timeout: 10` must not silently become ten days (or ten
// nanoseconds).
func TestBareNumbersAreRefusedForOtherDurations(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		option     string
		hint       string
	}{
		{"update timeout", "update_timeout: 10\n", nil, "update_timeout", "10s, 10m, 10h or 10d"},
		{"update timeout from the environment", "", []string{"HELPDESK_UPDATE_TIMEOUT=10"}, "update_timeout", "10s, 10m, 10h or 10d"},
		{"session ttl", "session_ttl: 7\n", nil, "session_ttl", "7s, 7m, 7h or 7d"},
		{"fraction", "reopen_window: 1.5\n", nil, "reopen_window", "has no unit"},
		{"nested in the file", "sla_policies: {high: {first_response: 4, resolution: 24h}}\n", nil, "sla_policies", "4s, 4m, 4h or 4d"},
		{"nested in environment JSON", "", []string{`HELPDESK_SLA_POLICIES={"high":{"first_response":4}}`}, "sla_policies", `"4h" or "4d"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadCase(t, c.file, c.env)
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != c.option || !strings.Contains(oe.Reason, c.hint) {
				t.Fatalf("err = %v, want option %s with %q in the reason", err, c.option, c.hint)
			}
		})
	}
	// Zero needs no unit.
	cfg, err := Load(writeFile(t, "auto_close_after: 0\n"), nil)
	if err != nil || cfg.AutoCloseAfter != 0 {
		t.Fatalf("auto_close_after: 0 = %s, %v", cfg.AutoCloseAfter, err)
	}
}
