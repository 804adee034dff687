package ticket

// Event kinds: every event a ticket's history can hold
// (ticket_events.kind, the "kind" of GET /tickets/{id}/history). Only the
// ticket's workflow writes them (workflows/lifecycle.go plans them; the
// Apply and PersistCreated activities store them), so this list is
// complete. Each names the data its event carries: the payload struct of
// payload.go (docs/lifecycle.md, "Event payloads").
const (
	// EventCreated: the ticket was opened. Data: status, priority,
	// assignee_id when it was opened assigned.
	EventCreated = "created"
	// EventStatusChanged: from, to (statuses); reason ("reopen",
	// "auto-close", "expired", …) when not a person's plain change.
	EventStatusChanged = "status_changed"
	// EventPriorityChanged: from, to; reason when a rule or an escalation
	// raised it.
	EventPriorityChanged = "priority_changed"
	// EventAssigned: from, to (user ids, null for nobody); reason when
	// routing, rerouting or an escalation chose.
	EventAssigned = "assigned"
	// EventTeamChanged: from, to (team ids); reason as for EventAssigned.
	EventTeamChanged = "team_changed"
	// EventCategoryChanged: from, to (category ids).
	EventCategoryChanged = "category_changed"
	// EventFieldsChanged: changes, each custom field's key with its old
	// and new value.
	EventFieldsChanged = "fields_changed"
	// EventTagsChanged: added, removed: the tags a person (by hand or by
	// a bulk action) really added to and took off the ticket. Tags that
	// rules add are recorded on EventRouted.
	EventTagsChanged = "tags_changed"
	// EventSubjectChanged, EventDescriptionChanged: from, to (text).
	EventSubjectChanged     = "subject_changed"
	EventDescriptionChanged = "description_changed"
	// EventComment: a comment; internal (bool). Its text is the comment
	// row's, not the event's.
	EventComment = "comment"
	// EventAttachment: attachment_id, internal.
	EventAttachment = "attachment"
	// EventRouted: a routing decision: reason, rules (those that
	// matched), strategy and tags when set; the priority, team and
	// assignee it set follow as their own events with the same reason.
	EventRouted = "routed"
	// EventPolicyChanged: the policy in force changed: first_response,
	// resolution (this priority's targets), escalation (on or off).
	EventPolicyChanged = "policy_changed"
	// EventEscalated: rule, reason, from_level, level.
	EventEscalated = "escalated"
	// EventSLABreached: clock (first_response or resolution), due_at,
	// priority.
	EventSLABreached = "sla_breached"
	// EventExpired: after (the expiry period), action.
	EventExpired = "expired"
	// EventArchived: the reopen window ended; nothing changes the ticket
	// any more. Data: reopen_window.
	EventArchived = "archived"
)

// TextChangedEvent is the event kind for a change of the text field
// ("subject" or "description").
func TextChangedEvent(field string) string {
	switch field {
	case "subject":
		return EventSubjectChanged
	case "description":
		return EventDescriptionChanged
	}
	return field + "_changed"
}

// Outbox kinds: the notifications a change queues for the notification
// channels (outbox.kind); the outbox mailer turns some into mail. Their
// data are the *Notice structs of payload.go.
const (
	OutboxTicketCreated = "ticket_created"
	OutboxAgentReply    = "agent_reply"
	OutboxStatusChanged = "status_changed"
	OutboxEscalated     = "escalated"
	OutboxSLABreached   = "sla_breached"
	OutboxExpired       = "expired"
)

// ReasonArchived is the reason a change to a ticket closed for good is
// refused with (the workflow's Conflict rejection carries it).
const ReasonArchived = "archived"

// ReasonReopen marks a status change to open as a reopen (POST
// /tickets/{id}/reopen, a requester's reply): only a resolved or closed
// ticket is reopened; one that is already open is left as it is.
const ReasonReopen = "reopen"
