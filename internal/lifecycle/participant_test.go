package lifecycle

import (
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestParticipantCommentHasNoPowers: the intake writes mail from an
// unauthenticated staff address as role "participant". Such a comment
// must not be mailed to the requester as an agent's reply, nor count as
// the requester's follow-up (reopening a resolved ticket), unlike the
// same comment from the authenticated agent.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

func TestParticipantCommentHasNoPowers(t *testing.T) {
	requester, agentA := int64(100), int64(200)
	st := State{Number: 7, Status: ticket.StatusResolved, Priority: ticket.PriorityMedium, RequesterID: &requester,
		Seq: 3, CreatedAt: t0, Persisted: true}
	comment := func(role string) Plan {
		t.Helper()
		p, err := PlanComment(st, Policy{Transitions: ticket.DefaultTransitions()}, sla.AlwaysOpen(), CommentRequest{RequestID: "r-" + role,
			Actor: Actor{UserID: agentA, Role: role}}, t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		return p
	}
	p := comment(ticket.RoleParticipant)
	if len(p.Outbox) != 0 || p.State.Status != ticket.StatusResolved || p.State.Followups != 0 || len(p.Events) != 1 {
		t.Errorf("participant comment: outbox %v, status %s, followups %d, events %v", p.Outbox, p.State.Status, p.State.Followups, p.Events)
	}
	if p := comment("agent"); len(p.Outbox) != 1 || p.Outbox[0].Kind != ticket.OutboxAgentReply {
		t.Errorf("agent comment: outbox %v, want an agent_reply (the control)", p.Outbox)
	}
	if _, err := PlanComment(st, Policy{Transitions: ticket.DefaultTransitions()}, sla.AlwaysOpen(), CommentRequest{RequestID: "r-internal",
		Actor: Actor{UserID: agentA, Role: ticket.RoleParticipant}, Internal: true}, t0); err == nil {
		t.Error("a participant added an internal note")
	}
}
