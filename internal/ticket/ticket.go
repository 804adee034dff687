// Package ticket holds the ticket domain's vocabulary and pure rules:
// statuses, priorities and the allowed status transitions. Workflows, the
// API and the config loader all decide with these functions, so a rule lives
// in exactly one place.
package ticket

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Status is where a ticket is in its life.
type Status string

// The fixed set of statuses. Every new ticket is open.
const (
	StatusOpen       Status = "open"
	StatusInProgress Status = "in_progress"
	StatusPending    Status = "pending" // waiting on the requester
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
)

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusOpen, StatusInProgress, StatusPending, StatusResolved, StatusClosed}
}

// ParseStatus returns the status named s or an error listing the valid ones.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q; want one of %s", s, joinStatuses(Statuses()))
}

// Priority says how urgent a ticket is.
type Priority string

// Priorities, most urgent first.
const (
	PriorityCritical Priority = "critical"
	PriorityHigh     Priority = "high"
	PriorityMedium   Priority = "medium"
	PriorityLow      Priority = "low"
)

// Priorities lists every priority, most urgent first.
func Priorities() []Priority {
	return []Priority{PriorityCritical, PriorityHigh, PriorityMedium, PriorityLow}
}

// ParsePriority returns the priority named s or an error listing the valid ones.
func ParsePriority(s string) (Priority, error) {
	for _, p := range Priorities() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown priority %q; want one of critical, high, medium, low", s)
}

// Rank orders priorities for sorting: 0 is the most urgent.
func (p Priority) Rank() int {
	for i, q := range Priorities() {
		if p == q {
			return i
		}
	}
	return len(Priorities())
}

// Transitions maps a status to the statuses it may move to.
type Transitions map[string][]string

// DefaultTransitions is the graph shipped in the default config: work moves
// forward, can wait on the requester, and resolved or closed tickets reopen.
func DefaultTransitions() map[string][]string {
	return map[string][]string{
		"open":        {"in_progress", "pending", "resolved", "closed"},
		"in_progress": {"open", "pending", "resolved", "closed"},
		"pending":     {"open", "in_progress", "resolved", "closed"},
		"resolved":    {"open", "closed"},
		"closed":      {"open"},
	}
}

// ValidateTransitions checks a transition graph against the fixed statuses:
// every key and target must be a known status, no status may list itself,
// and every status must be reachable from open so no ticket can get stuck
// in a state nothing leads to.
func ValidateTransitions(t map[string][]string) error {
	if len(t) == 0 {
		return fmt.Errorf("must list the allowed moves from each status")
	}
	for _, from := range sortedKeys(t) {
		if _, err := ParseStatus(from); err != nil {
			return fmt.Errorf("key %q: %v", from, err)
		}
		seen := map[string]bool{}
		for _, to := range t[from] {
			if _, err := ParseStatus(to); err != nil {
				return fmt.Errorf("%s -> %q: %v", from, to, err)
			}
			if to == from {
				return fmt.Errorf("%s lists itself as a move", from)
			}
			if seen[to] {
				return fmt.Errorf("%s lists %s twice", from, to)
			}
			seen[to] = true
		}
	}
	reached := map[string]bool{string(StatusOpen): true}
	queue := []string{string(StatusOpen)}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, to := range t[cur] {
			if !reached[to] {
				reached[to] = true
				queue = append(queue, to)
			}
		}
	}
	var missing []string
	for _, s := range Statuses() {
		if !reached[string(s)] {
			missing = append(missing, string(s))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("statuses %s cannot be reached from open", strings.Join(missing, ", "))
	}
	return nil
}

// Allowed reports whether the graph permits from -> to, and lists the moves
// that are allowed from `from` for error messages.
func Allowed(t map[string][]string, from, to Status) (bool, []string) {
	moves := t[string(from)]
	for _, m := range moves {
		if m == string(to) {
			return true, moves
		}
	}
	return false, moves
}

// Limits on ticket fields.
const (
	MaxSubjectRunes     = 255
	MaxDescriptionBytes = 64 << 10
)

// Ticket is the ticket as users and the API see it.
type Ticket struct {
	Number      int64    `json:"id"`
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Status      Status   `json:"status"`
	Priority    Priority `json:"priority"`
	// AssigneeID is the user working the ticket; Assignee their email, for
	// display (read-only).
	AssigneeID *int64    `json:"assignee_id"`
	Assignee   *string   `json:"assignee"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// SLA: the earliest running deadline (nil while paused or met) and each
	// clock's own deadline.
	SLADueAt           *time.Time `json:"sla_due_at"`
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	ResolutionDueAt    *time.Time `json:"resolution_due_at"`
	FirstRespondedAt   *time.Time `json:"first_responded_at"`
	ResolvedAt         *time.Time `json:"resolved_at"`
	ClosedAt           *time.Time `json:"closed_at"`
	ExpiredAt          *time.Time `json:"expired_at"`
	// ArchivedAt: the reopen window ended; replies open a new, linked ticket.
	ArchivedAt      *time.Time `json:"archived_at"`
	EscalationLevel int        `json:"escalation_level"`
	ReopenCount     int        `json:"reopen_count"`
	// LinkedTicket is the earlier ticket this one follows up.
	LinkedTicket *int64 `json:"linked_ticket"`
	// AllowedStatuses lists the moves from Status the configured transitions
	// allow; set on single-ticket answers so clients offer only those.
	AllowedStatuses []string `json:"allowed_statuses,omitempty"`
	// RequesterID is the user who asked; TeamID the team working it. Both
	// decide who may see the ticket.
	RequesterID *int64 `json:"requester_id"`
	TeamID      *int64 `json:"team_id"`
	// RequesterOrgID is the requester's organization (visibility, search).
	RequesterOrgID *int64 `json:"-"`
	// CategoryID classifies the ticket; Category is its path for display
	// ("Hardware / Printers"), filled in by the API.
	CategoryID *int64  `json:"category_id"`
	Category   *string `json:"category"`
	// CustomFields holds the values of custom fields by key (option ids for
	// choices; see internal/catalog).
	CustomFields map[string]any `json:"custom_fields"`
	// Tags were added by rules (and later by people).
	Tags []string `json:"tags"`
	// Channel is how the ticket came in: web, api or email.
	Channel string `json:"channel"`
	// Seq is the sequence number of the last event applied to the ticket; it
	// versions the search document.
	Seq int64 `json:"-"`
}

func joinStatuses(ss []Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Draft is a creation request as accepted by the API: what the requester
// wrote. It is stored with the ticket number's reservation and turned into
// the ticket by the workflow.
type Draft struct {
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Priority    Priority `json:"priority"`
	AssigneeID  *int64   `json:"assignee_id,omitempty"`
	RequesterID *int64   `json:"requester_id,omitempty"`
	// LinkedTicket: this request follows up an archived ticket.
	LinkedTicket *int64 `json:"linked_ticket,omitempty"`
	TeamID       *int64 `json:"team_id,omitempty"`
	Actor        string `json:"actor"`
	// PrioritySet: the requester chose the priority, so priority rules keep it.
	PrioritySet  bool           `json:"priority_set,omitempty"`
	CategoryID   *int64         `json:"category_id,omitempty"`
	CustomFields map[string]any `json:"custom_fields,omitempty"`
	Channel      string         `json:"channel,omitempty"`
}

// Channels a ticket can come in through.
const (
	ChannelWeb   = "web"
	ChannelAPI   = "api"
	ChannelEmail = "email"
)
