package workflows

import (
	"fmt"
	"strconv"
	"time"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// PolicyFromConfig builds the Policy new tickets start with. The config
// was validated at load, so this cannot fail.
func PolicyFromConfig(c config.Config) Policy {
	p := Policy{
		Transitions:      c.StatusTransitions,
		SLA:              map[ticket.Priority]SLATargets{},
		Calendar:         c.BusinessCalendar,
		Escalation:       c.EnableEscalation,
		ExpireAfter:      time.Duration(c.TicketExpirationDays) * 24 * time.Hour,
		ExpiryAction:     c.ExpiryAction,
		AutoCloseAfter:   c.AutoCloseAfter.D(),
		ReopenWindow:     c.ReopenWindow.D(),
		MaxHistoryEvents: c.WorkflowMaxHistoryEvents,
	}
	for name, t := range c.SLAPolicies {
		p.SLA[ticket.Priority(name)] = SLATargets{FirstResponse: t.FirstResponse.D(), Resolution: t.Resolution.D()}
	}
	for _, r := range c.EscalationRules {
		action := Escalation{Level: r.Level, RaisePriority: r.RaisePriority, TeamID: r.TeamID}
		if r.Clock != "" {
			p.TimeRules = append(p.TimeRules, TimeRule{Name: r.Name, Clock: Clock(r.Clock), Percent: r.Percent, After: r.After.D(), Action: action})
		} else {
			p.AttemptRules = append(p.AttemptRules, AttemptRule{Name: r.Name, Kind: r.Attempt, Count: r.Count, Action: action})
		}
	}
	return p
}

// calendar returns the policy's business calendar; the zero spec is 24x7.
// A spec that does not parse never becomes 24x7 silently: configuration
// and `helpdesk policy apply` validate it before any workflow sees it
// (and the zone database is linked into the binary), so a failure here is
// a bug, and it fails the workflow task (retried, visible in the Temporal
// UI) rather than computing deadlines on the wrong calendar.
func (p Policy) calendar() sla.Calendar {
	s := p.Calendar
	if s.TimeZone == "" && len(s.Hours) == 0 && len(s.Holidays) == 0 {
		return sla.AlwaysOpen()
	}
	if s.Name == "" {
		s.Name = "business hours"
	}
	c, err := sla.ParseCalendar(s)
	if err != nil {
		panic(fmt.Sprintf("workflows: the policy's business calendar does not parse: %v", err))
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
