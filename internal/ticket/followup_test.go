package ticket

import (
	"strings"
	"testing"
)

// One rule forms a follow-up, whichever channel the reply came by.
func TestFollowUp(t *testing.T) {
	team, cat := int64(4), int64(9)
	old := Ticket{Number: 17, Subject: "Printer on fire", TeamID: &team, CategoryID: &cat, Priority: PriorityCritical}
	for _, tc := range []struct {
		name, subject, wantSubject string
	}{
		{"web reply: Re: and the old subject", "", "Re: Printer on fire"},
		{"mail reply keeps its own subject", "  Re: [#17] Printer on fire  ", "Re: [#17] Printer on fire"},
	} {
		d := FollowUp(old, 3, tc.subject, "still burning", PriorityMedium)
		if d.Subject != tc.wantSubject {
			t.Errorf("%s: subject %q, want %q", tc.name, d.Subject, tc.wantSubject)
		}
		if d.LinkedTicket == nil || *d.LinkedTicket != 17 || d.TeamID == nil || *d.TeamID != 4 ||
			d.CategoryID == nil || *d.CategoryID != 9 || d.Priority != PriorityMedium ||
			d.RequesterID == nil || *d.RequesterID != 3 || d.Actor != "user:3" || d.Description != "still burning" {
			t.Errorf("%s: draft %+v", tc.name, d)
		}
	}
	if d := FollowUp(Ticket{Number: 1, Subject: "Re: already"}, 3, "", "x", PriorityLow); d.Subject != "Re: already" {
		t.Errorf("Re: doubled: %q", d.Subject)
	}
	long := FollowUp(Ticket{Number: 1, Subject: strings.Repeat("é", MaxSubjectRunes)}, 3, "", strings.Repeat("x", MaxDescriptionBytes+10), PriorityLow)
	if n := len([]rune(long.Subject)); n != MaxSubjectRunes || len(long.Description) != MaxDescriptionBytes {
		t.Errorf("limits: subject %d runes, description %d bytes", n, len(long.Description))
	}
}
