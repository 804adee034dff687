package workflows

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
func TestParticipantCommentHasNoPowers(t *testing.T) {
	st := State{Number: 7, Status: ticket.StatusResolved, Priority: ticket.PriorityMedium, RequesterID: ptr(requester),
		Seq: 3, CreatedAt: t0, Persisted: true}
	comment := func(role string) plan {
		t.Helper()
		p, err := planComment(st, testPolicy(), sla.AlwaysOpen(), CommentRequest{RequestID: "r-" + role,
			Actor: Actor{UserID: agentA, Role: role}}, t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		return p
	}
	p := comment(RoleParticipant)
	if len(p.outbox) != 0 || p.state.Status != ticket.StatusResolved || p.state.Followups != 0 || len(p.events) != 1 {
		t.Errorf("participant comment: outbox %v, status %s, followups %d, events %v", p.outbox, p.state.Status, p.state.Followups, p.events)
	}
	if p := comment("agent"); len(p.outbox) != 1 || p.outbox[0].Kind != OutboxAgentReply {
		t.Errorf("agent comment: outbox %v, want an agent_reply (the control)", p.outbox)
	}
	if _, err := planComment(st, testPolicy(), sla.AlwaysOpen(), CommentRequest{RequestID: "r-internal",
		Actor: Actor{UserID: agentA, Role: RoleParticipant}, Internal: true}, t0); err == nil {
		t.Error("a participant added an internal note")
	}
}
