package ticket

import (
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

// What a requester may see of a ticket is decided here, once, for every
// way a ticket reaches them: the API (single ticket, lists, search,
// history), and exports and notifications when they are built. Staff
// (agents, leads, admins) see the whole Ticket.
//
// Everything is an allow-list: a field added to Ticket, an event kind or
// an event data key added to the workflow stays hidden from requesters
// until it is named here, so showing it is a decision, never an accident.
// Hidden: who works the ticket (assignee id and email, team), how it was
// routed and escalated (tags, rule reasons, escalation level), the SLA
// (deadlines, first response, breaches, paused clocks), expiry internals,
// the reopen count and the custom fields an admin marked not visible to
// requesters.

// FieldVisibility tells which custom fields requesters may see, by key.
// The zero value shows none: a value whose field is unknown is hidden.
type FieldVisibility struct {
	keys map[string]bool
}

// RequesterFields is the visibility the field definitions give: every
// field with visible_to_requester set, retired ones included (tickets keep
// their values).
func RequesterFields(fields []catalog.Field) FieldVisibility {
	v := FieldVisibility{keys: make(map[string]bool, len(fields))}
	for _, f := range fields {
		if f.VisibleToRequester {
			v.keys[f.Key] = true
		}
	}
	return v
}

// Visible reports whether requesters may see the field with this key.
func (v FieldVisibility) Visible(key string) bool { return v.keys[key] }

// RequesterView is a ticket as its requester (and anyone else without a
// staff role who may see it) gets it.
type RequesterView struct {
	Number      int64    `json:"id"`
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Status      Status   `json:"status"`
	Priority    Priority `json:"priority"`
	// Assigned says a person works the ticket, not who (Zendesk and
	// Zammad show an agent's name at most; the help desk mails from its
	// own address, so a requester never needs an agent's email).
	Assigned   bool       `json:"assigned"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	// ArchivedAt: the reopen window ended; a reply opens a new ticket.
	ArchivedAt   *time.Time `json:"archived_at"`
	LinkedTicket *int64     `json:"linked_ticket"`
	RequesterID  *int64     `json:"requester_id"`
	CategoryID   *int64     `json:"category_id"`
	Category     *string    `json:"category"`
	// CustomFields holds only the fields visible to requesters.
	CustomFields map[string]any `json:"custom_fields"`
	Channel      string         `json:"channel"`
}

// ForRequester shapes t for a requester; fields says which custom field
// values they may see.
func ForRequester(t Ticket, fields FieldVisibility) RequesterView {
	v := RequesterView{
		Number: t.Number, Subject: t.Subject, Description: t.Description, Status: t.Status, Priority: t.Priority,
		Assigned:  t.AssigneeID != nil,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, ResolvedAt: t.ResolvedAt, ClosedAt: t.ClosedAt, ArchivedAt: t.ArchivedAt,
		LinkedTicket: t.LinkedTicket, RequesterID: t.RequesterID, CategoryID: t.CategoryID, Category: t.Category,
		CustomFields: map[string]any{}, Channel: t.Channel,
	}
	for k, val := range t.CustomFields {
		if fields.Visible(k) {
			v.CustomFields[k] = val
		}
	}
	return v
}

// RequesterHiddenKinds are the event kinds requesters never see: how the
// help desk routes, escalates and times work. Lists filter them in the
// query so pages stay full; RequesterEvent hides them too.
func RequesterHiddenKinds() []string {
	return []string{EventAssigned, EventTeamChanged, EventTagsChanged, EventRouted, EventEscalated, EventSLABreached, EventExpired, EventPolicyChanged}
}

// requesterStatusReasons are the reasons of a status change a requester
// may read; any other (a future rule's name, say) is left out.
var requesterStatusReasons = map[string]bool{ReasonReopen: true, "requester replied": true, "auto-close": true, "expired": true}

// RequesterEvent returns what a requester may see of one history event's
// data, or false when they may not see the event at all. Each kind shown
// is copied field by field, so a field added to a payload stays hidden
// until it is copied here; a kind not listed (or an Unknown payload) is
// hidden. Internal comments and attachments are the caller's to leave out
// (the query does). A fields change touching only hidden fields is hidden
// as a whole, so not even the fact that a hidden field changed shows.
func RequesterEvent(p EventPayload, fields FieldVisibility) (EventPayload, bool) {
	switch p := p.(type) {
	case Created:
		return Created{Status: p.Status, Priority: p.Priority}, true
	case StatusChanged:
		out := StatusChanged{From: p.From, To: p.To}
		if requesterStatusReasons[p.Reason] {
			out.Reason = p.Reason
		}
		return out, true
	case PriorityChanged: // the reason names rules
		return PriorityChanged{From: p.From, To: p.To}, true
	case TextChanged:
		return TextChanged{Field: p.Field, From: p.From, To: p.To}, true
	case CategoryChanged:
		return CategoryChanged{From: p.From, To: p.To}, true
	case FieldsChanged:
		shown := make(map[string]FieldChange, len(p.Changes))
		for k, c := range p.Changes {
			if fields.Visible(k) {
				shown[k] = c
			}
		}
		if len(shown) == 0 {
			return nil, false
		}
		return FieldsChanged{Changes: shown}, true
	case Comment:
		return Comment{Internal: p.Internal}, true
	case Attachment:
		return Attachment{AttachmentID: p.AttachmentID, Internal: p.Internal}, true
	case Archived:
		return Archived{}, true
	}
	return nil, false
}
