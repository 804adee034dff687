package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/sla"
)

// The caller's own account: who they are (GET /me) and the settings they
// choose themselves (PATCH /me): today their time zone, which the search
// language reads days and ages in (issue 20).

// meAnswer is GET and PATCH /me. TimeZone is the zone in effect: the
// user's (user.time_zone) or, when they chose none, the default.
type meAnswer struct {
	User    identity.User `json:"user"`
	TeamIDs []int64       `json:"team_ids"`
	Via     string        `json:"via"`
	// TimeZone is the IANA zone dates are read in for this user.
	TimeZone string `json:"time_zone"`
	// TimeZoneDefault: the user chose no zone; TimeZone is the default.
	TimeZoneDefault bool `json:"time_zone_default"`
}

func (s *Server) meAnswer(p *identity.Principal, u identity.User) meAnswer {
	zone, isDefault := s.userTimeZone(u)
	return meAnswer{User: u, TeamIDs: nonNil(p.TeamIDs), Via: p.Via, TimeZone: zone, TimeZoneDefault: isDefault}
}

func (s *Server) me(c *fiber.Ctx) error {
	p := principalOf(c)
	if p.Via == identity.ViaSession && c.Cookies(csrfCookie) == "" {
		// The page lost its CSRF cookie (cleared by hand, another tab):
		// hand out a new one so it can recover without signing in again.
		c.Cookie(&fiber.Cookie{Name: csrfCookie, Value: randomToken(24), Path: "/",
			Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteLaxMode})
	}
	return c.JSON(s.meAnswer(p, p.User))
}

// updateMe is PATCH /me: {"time_zone": "Europe/Berlin"} chooses a zone
// (an IANA name; "", "Local" and unknown names are 422 time_zone), null
// goes back to the default. Members left out are left alone.
func (s *Server) updateMe(c *fiber.Ctx) error {
	var b struct {
		TimeZone Field[string] `json:"time_zone"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	p := principalOf(c)
	if b.TimeZone.Err != nil {
		return invalid("the change is not valid", FieldError{Field: "time_zone", Detail: "must be an IANA time zone name such as Europe/Berlin, or null for the default"})
	}
	u := p.User
	if b.TimeZone.Set {
		var zone *string
		if v, ok := b.TimeZone.Value(); ok {
			zone = &v
		}
		if err := s.ident.SetTimeZone(c.UserContext(), p.User.ID, zone); err != nil {
			return identityProblem(err)
		}
		var err error
		if u, err = s.ident.UserByID(c.UserContext(), p.User.ID); err != nil {
			return identityProblem(err)
		}
		c.Locals(auditDetailKey, map[string]any{"time_zone": zoneOrDefault(u.TimeZone)})
	}
	return c.JSON(s.meAnswer(p, u))
}

func zoneOrDefault(zone *string) string {
	if zone == nil {
		return "default"
	}
	return *zone
}

// userLocation is the time zone p reads dates in: theirs, or the default
// (defaultLocation). Searches resolve "created:2026-11-01" and ages in it
// unless the request names another (tz).
func (s *Server) userLocation(p *identity.Principal) *time.Location {
	if p != nil && p.User.TimeZone != nil {
		// Checked when it was set; a zone the linked database no longer
		// knows falls back to the default rather than failing searches.
		if loc, err := sla.LoadZone(*p.User.TimeZone); err == nil {
			return loc
		}
	}
	return s.defaultLocation()
}

// userTimeZone names u's zone in effect and whether it is the default.
func (s *Server) userTimeZone(u identity.User) (name string, isDefault bool) {
	if u.TimeZone != nil {
		if _, err := sla.LoadZone(*u.TimeZone); err == nil {
			return *u.TimeZone, false
		}
	}
	return s.defaultLocation().String(), true
}

// defaultLocation is the zone of users who chose none: the business
// calendar's (business_calendar.time_zone), else UTC, the zone of the
// 24x7 calendar SLAs then count in.
func (s *Server) defaultLocation() *time.Location {
	if name := s.cfg.BusinessCalendar.TimeZone; name != "" {
		// Validated when the configuration was loaded.
		if loc, err := sla.LoadZone(name); err == nil {
			return loc
		}
	}
	return time.UTC
}
