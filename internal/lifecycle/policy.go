package lifecycle

import (
	"fmt"
	"strconv"

	"github.com/helpdesk/helpdesk/internal/sla"
)

// BusinessCalendar returns the policy's business calendar; the zero spec is 24x7.
// A spec that does not parse never becomes 24x7 silently: configuration
// and `helpdesk policy apply` validate it before any workflow sees it
// (and the zone database is linked into the binary), so a failure here is
// a bug, and it fails the workflow task (retried, visible in the Temporal
// UI) rather than computing deadlines on the wrong calendar.
func (p Policy) BusinessCalendar() sla.Calendar {
	s := p.Calendar
	if s.TimeZone == "" && len(s.Hours) == 0 && len(s.Holidays) == 0 {
		return sla.AlwaysOpen()
	}
	if s.Name == "" {
		s.Name = "business hours"
	}
	c, err := sla.ParseCalendar(s)
	if err != nil {
		panic(fmt.Sprintf("lifecycle: the policy's business calendar does not parse: %v", err))
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
