package api

import (
	"testing"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/sla"
)

// A user's dates are read in their zone, else in the business calendar's,
// else (no calendar: SLAs count 24x7 in UTC) in UTC.
func TestUserLocation(t *testing.T) {
	tokyo, berlin := "Asia/Tokyo", "Europe/Berlin"
	withCalendar := config.Default()
	withCalendar.BusinessCalendar = sla.CalendarSpec{TimeZone: berlin, Hours: map[string][]string{"mon": {"09:00-17:00"}}}
	for _, c := range []struct {
		name      string
		cfg       config.Config
		zone      *string
		want      string
		isDefault bool
	}{
		{"own zone", withCalendar, &tokyo, tokyo, false},
		{"calendar's zone", withCalendar, nil, berlin, true},
		{"no calendar", config.Default(), nil, "UTC", true},
		{"own zone, no calendar", config.Default(), &tokyo, tokyo, false},
	} {
		s := &Server{cfg: c.cfg}
		p := &identity.Principal{User: identity.User{ID: 1, Role: identity.RoleAgent, TimeZone: c.zone}}
		if got := s.userLocation(p).String(); got != c.want {
			t.Errorf("%s: userLocation = %s, want %s", c.name, got, c.want)
		}
		if name, isDefault := s.userTimeZone(p.User); name != c.want || isDefault != c.isDefault {
			t.Errorf("%s: userTimeZone = %s, %v; want %s, %v", c.name, name, isDefault, c.want, c.isDefault)
		}
	}
	if got := (&Server{cfg: withCalendar}).userLocation(nil).String(); got != berlin {
		t.Errorf("no principal: %s, want the default %s", got, berlin)
	}
}
