package ticket

import (
	"fmt"
	"strings"
)

// FollowUp is the ticket a requester's reply to a ticket closed for good
// opens, by the web UI or API and by mail alike: linked to old, in old's
// team and category, with the reply as its description and the default
// priority. Its subject is the reply's own (a mail's) when it has one,
// else "Re: " and old's. Subject and description are cut to their limits.
func FollowUp(old Ticket, requesterID int64, subject, reply string, defaultPriority Priority) Draft {
	subject = strings.TrimSpace(subject)
	if subject == "" {
		subject = old.Subject
		if !strings.HasPrefix(subject, "Re: ") {
			subject = "Re: " + subject
		}
	}
	number := old.Number
	return Draft{
		Subject:      CutRunes(subject, MaxSubjectRunes),
		Description:  CutBytes(reply, MaxDescriptionBytes),
		Priority:     defaultPriority,
		RequesterID:  &requesterID,
		LinkedTicket: &number,
		TeamID:       old.TeamID,
		CategoryID:   old.CategoryID,
		Actor:        fmt.Sprintf("user:%d", requesterID),
	}
}
