package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/helpdesk/helpdesk/internal/sla"
)

func converterDefault() converter.DataConverter { return converter.GetDefaultDataConverter() }

func slaSpecBerlin() sla.CalendarSpec {
	weekday := []string{"09:00-17:00"}
	return sla.CalendarSpec{
		TimeZone: "Europe/Berlin",
		Hours:    map[string][]string{"mon": weekday, "tue": weekday, "wed": weekday, "thu": weekday, "fri": weekday},
		Holidays: []string{"2026-03-09"},
	}
}

func berlin(t *testing.T) *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
