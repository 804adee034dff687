package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// SLAPolicy is one priority's SLA targets; 0 means no target.
type SLAPolicy struct {
	FirstResponse Duration `yaml:"first_response" json:"first_response"`
	Resolution    Duration `yaml:"resolution" json:"resolution"`
}

// EscalationRule is a time rule (Clock + Percent [+ After]) or an attempt
// rule (Attempt + Count), with what happens when it fires.
type EscalationRule struct {
	Name string `yaml:"name" json:"name"`
	// Time rule: fires when the clock (first_response or resolution) has
	// used Percent of its target, plus After of wall time.
	Clock   string   `yaml:"clock" json:"clock"`
	Percent int      `yaml:"percent" json:"percent"`
	After   Duration `yaml:"after" json:"after"`
	// Attempt rule: fires when the counter (reopened, requester_followups,
	// reassigned) reaches Count.
	Attempt string `yaml:"attempt" json:"attempt"`
	Count   int    `yaml:"count" json:"count"`
	// Action.
	Level         int    `yaml:"level" json:"level"`
	RaisePriority bool   `yaml:"raise_priority" json:"raise_priority"`
	TeamID        *int64 `yaml:"team_id" json:"team_id"`
}

// DefaultSLAPolicies are the targets shipped by default (24x7 unless a
// business_calendar is set).
func DefaultSLAPolicies() map[string]SLAPolicy {
	h := func(n int) Duration { return Duration(time.Duration(n) * time.Hour) }
	return map[string]SLAPolicy{
		"critical": {FirstResponse: h(1), Resolution: h(4)},
		"high":     {FirstResponse: h(4), Resolution: h(24)},
		"medium":   {FirstResponse: h(8), Resolution: h(72)},
		"low":      {FirstResponse: h(24), Resolution: h(120)},
	}
}

// DefaultEscalationRules warn at 75 % of the resolution target, escalate on
// each breach and again four hours after a resolution breach, and watch
// reopen, follow-up and reassignment counts.
func DefaultEscalationRules() []EscalationRule {
	return []EscalationRule{
		{Name: "resolution-75%", Clock: "resolution", Percent: 75, Level: 1},
		{Name: "first-response-breached", Clock: "first_response", Percent: 100, Level: 1},
		{Name: "resolution-breached", Clock: "resolution", Percent: 100, Level: 2, RaisePriority: true},
		{Name: "resolution-breached+4h", Clock: "resolution", Percent: 100, After: Duration(4 * time.Hour), Level: 3},
		{Name: "reopened-3-times", Attempt: "reopened", Count: 3, Level: 2},
		{Name: "3-follow-ups-unanswered", Attempt: "requester_followups", Count: 3, Level: 1},
		{Name: "reassigned-3-times", Attempt: "reassigned", Count: 3, Level: 1},
	}
}

func lifecycleEnvOptions() []envOption {
	jsonOpt := func(key, want string, set func(*Config, []byte) error) envOption {
		return envOption{key, func(c *Config, v string) error {
			if err := set(c, []byte(v)); err != nil {
				return fmt.Errorf("want %s: %v", want, err)
			}
			return nil
		}}
	}
	return []envOption{
		jsonOpt("sla_policies", `a JSON object of priority to {"first_response": "1h", "resolution": "4h"}`, func(c *Config, b []byte) error {
			var m map[string]SLAPolicy
			if err := json.Unmarshal(b, &m); err != nil {
				return err
			}
			c.SLAPolicies = m
			return nil
		}),
		jsonOpt("business_calendar", `a JSON object {"time_zone", "hours", "holidays"}`, func(c *Config, b []byte) error {
			var s sla.CalendarSpec
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			c.BusinessCalendar = s
			return nil
		}),
		jsonOpt("escalation_rules", "a JSON array of rules", func(c *Config, b []byte) error {
			var r []EscalationRule
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			c.EscalationRules = r
			return nil
		}),
	}
}

// validateLifecycle checks the lifecycle options.
func (c Config) validateLifecycle() error {
	for name, p := range c.SLAPolicies {
		if _, err := ticket.ParsePriority(name); err != nil {
			return &OptionError{Option: "sla_policies", Reason: err.Error()}
		}
		if p.FirstResponse < 0 || p.Resolution < 0 {
			return &OptionError{Option: "sla_policies", Reason: name + ": targets must not be negative"}
		}
	}
	if c.BusinessCalendar.TimeZone != "" || len(c.BusinessCalendar.Hours) > 0 || len(c.BusinessCalendar.Holidays) > 0 {
		spec := c.BusinessCalendar
		if spec.Name == "" {
			spec.Name = "business hours"
		}
		if _, err := sla.ParseCalendar(spec); err != nil {
			return &OptionError{Option: "business_calendar", Reason: err.Error()}
		}
	}
	names := map[string]bool{}
	for i, r := range c.EscalationRules {
		where := fmt.Sprintf("rule %d (%q)", i+1, r.Name)
		if r.Name == "" {
			return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("rule %d: name is required", i+1)}
		}
		if names[r.Name] {
			return &OptionError{Option: "escalation_rules", Reason: where + ": name used twice"}
		}
		names[r.Name] = true
		switch {
		case r.Clock != "" && r.Attempt != "":
			return &OptionError{Option: "escalation_rules", Reason: where + ": set clock (a time rule) or attempt (an attempt rule), not both"}
		case r.Clock != "":
			if r.Clock != "first_response" && r.Clock != "resolution" {
				return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("%s: clock %q; want first_response or resolution", where, r.Clock)}
			}
			if r.Percent < 1 || r.Percent > 1000 {
				return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("%s: percent must be 1-1000, got %d", where, r.Percent)}
			}
		case r.Attempt != "":
			switch r.Attempt {
			case "reopened", "requester_followups", "reassigned":
			default:
				return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("%s: attempt %q; want reopened, requester_followups or reassigned", where, r.Attempt)}
			}
			if r.Count < 1 {
				return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("%s: count must be at least 1, got %d", where, r.Count)}
			}
		default:
			return &OptionError{Option: "escalation_rules", Reason: where + ": set clock and percent, or attempt and count"}
		}
		if r.Level < 1 {
			return &OptionError{Option: "escalation_rules", Reason: fmt.Sprintf("%s: level must be at least 1, got %d", where, r.Level)}
		}
	}
	switch c.ExpiryAction {
	case "escalate", "close":
	default:
		return &OptionError{Option: "expiry_action", Reason: fmt.Sprintf("want escalate or close, got %q", c.ExpiryAction)}
	}
	if c.ReopenWindow.D() < 0 || c.AutoCloseAfter.D() < 0 {
		return &OptionError{Option: "reopen_window", Reason: "must not be negative"}
	}
	if c.MaxAttachmentBytes < 1 {
		return &OptionError{Option: "max_attachment_bytes", Reason: fmt.Sprintf("must be at least 1, got %d", c.MaxAttachmentBytes)}
	}
	if c.MaxAttachmentsPerTicket < 1 {
		return &OptionError{Option: "max_attachments_per_ticket", Reason: fmt.Sprintf("must be at least 1, got %d", c.MaxAttachmentsPerTicket)}
	}
	if c.WorkflowMaxHistoryEvents != 0 && c.WorkflowMaxHistoryEvents < 100 {
		return &OptionError{Option: "workflow_max_history_events", Reason: "must be 0 (only when the server suggests) or at least 100"}
	}
	return nil
}

// UnmarshalJSON accepts "7d"-style strings (environment JSON values).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		if n := strings.TrimSpace(string(b)); isBareNumber(n) {
			return fmt.Errorf("%s has no unit; write a duration string such as \"%[1]sh\" or \"%[1]sd\"", n)
		}
		return fmt.Errorf("want a duration string such as \"4h\" or \"3d\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the canonical form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
