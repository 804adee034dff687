// Package rules is the pure decision core of routing: it validates the
// priority and assignment rules admins write, evaluates them against one
// ticket's facts, and picks an agent within a team. It does no I/O, so the
// API (validation), the store's routing transaction (evaluation and choice)
// and tests all get the same answer from the same code; see docs/routing.md.
package rules

import (
	"slices"
	"strings"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Rule kinds. Priority rules run first so that assignment rules can
// condition on the priority they decided.
const (
	KindPriority   = "priority"
	KindAssignment = "assignment"
)

// Strategies an assignment rule can use to pick an agent within its team.
const (
	StrategyRoundRobin  = "round_robin"
	StrategyLeastLoaded = "least_loaded"
	StrategySkills      = "skills"
)

// Condition fields other than custom fields. A custom field is named
// CustomFieldPrefix + its key, e.g. "cf.serial_number".
const (
	FieldCategory              = "category"
	FieldKeywords              = "keywords"
	FieldRequesterOrganization = "requester_organization"
	FieldRequesterVIP          = "requester_vip"
	FieldChannel               = "channel"
	FieldPriority              = "priority"
	CustomFieldPrefix          = "cf."
)

// Limits Validate enforces, so one rule cannot make evaluation or the
// admin screens unreasonably heavy.
const (
	MaxNameLen      = 200 // characters, after trimming
	MaxConditions   = 50
	MaxListLen      = 100 // items in one condition's list value
	MaxKeywordLen   = 100 // characters of one keyword or phrase
	MaxTextValueLen = 255 // characters of a text condition value
	MaxTags         = 20
	MaxTagLen       = 50
	MaxSkills       = 20
	MaxSkillLen     = 50
)

// Channels lists the ways a ticket can arrive, as the channel condition
// names them.
func Channels() []string { return []string{"web", "api", "email"} }

// priorityNames lists the priority names, most urgent first, as conditions
// and actions spell them.
func priorityNames() []string {
	var out []string
	for _, p := range ticket.Priorities() {
		out = append(out, string(p))
	}
	return out
}

// Rule is one admin-defined rule as stored (JSON is the API shape too).
type Rule struct {
	ID         int64       `json:"id"`
	Name       string      `json:"name"`
	Kind       string      `json:"kind"`
	Position   int         `json:"position"`
	Enabled    bool        `json:"enabled"`
	Conditions []Condition `json:"conditions"`
	Actions    Actions     `json:"actions"`
}

// Condition is one test a ticket must pass for its rule to apply; every
// condition of a rule must hold, and a rule without conditions always
// applies. Value is decoded JSON (string, float64, bool, []any, nil).
type Condition struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Actions is what a matching rule does to the ticket.
type Actions struct {
	Priority *string `json:"priority,omitempty"` // critical, high, medium, low
	TeamID   *int64  `json:"team_id,omitempty"`
	// AgentID, when set, is assigned directly; with TeamID too, the ticket
	// also moves to that team, and no strategy is applied.
	AgentID *int64 `json:"agent_id,omitempty"`
	// Strategy is round_robin (the default when team_id is set without
	// agent_id), least_loaded or skills.
	Strategy string `json:"strategy,omitempty"`
	// Skills an agent must all have to be chosen, whatever the strategy.
	Skills []string `json:"skills,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// Problem is one validation problem, so the API can answer 422 with every
// problem at once. Field names the place: "name", "kind", "conditions",
// "conditions[0].field", "conditions[1].op", "conditions[2].value",
// "actions", "actions.priority", "actions.team_id", "actions.agent_id",
// "actions.strategy", "actions.skills", "actions.tags[0]", "actions.tags".
type Problem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// FieldDef is what the engine knows of a custom field: its type and, for
// dropdown/multi_choice, its option ids.
type FieldDef struct {
	Type    string   // text, long_text, number, dropdown, multi_choice, checkbox, date, datetime, user
	Options []string // option ids
}

// Schema is what exists, so Validate can reject rules naming things that
// do not.
type Schema struct {
	Fields        map[string]FieldDef // by custom field key
	Categories    map[int64]bool
	Teams         map[int64]bool
	Agents        map[int64]bool // staff users (agent, lead, admin)
	Organizations map[int64]bool
}

// Normalize returns r in its stored form: trimmed name, lower-cased,
// trimmed, unique and sorted tags and skills, and Strategy defaulted to
// round_robin when TeamID is set without AgentID and no strategy is given.
// Empty tags and skills are kept (sorted first) so that Validate, run
// after Normalize, still reports them. r itself is not changed.
func Normalize(r Rule) Rule {
	r.Name = strings.TrimSpace(r.Name)
	r.Conditions = slices.Clone(r.Conditions)
	r.Actions.Priority = clonePtr(r.Actions.Priority)
	r.Actions.TeamID = clonePtr(r.Actions.TeamID)
	r.Actions.AgentID = clonePtr(r.Actions.AgentID)
	r.Actions.Tags = normalizeSet(r.Actions.Tags)
	r.Actions.Skills = normalizeSet(r.Actions.Skills)
	if r.Actions.TeamID != nil && r.Actions.AgentID == nil && r.Actions.Strategy == "" {
		r.Actions.Strategy = StrategyRoundRobin
	}
	return r
}

// NormalizeTag returns a tag in the form rules store and tickets carry, so
// tags added by people can be compared with tags added by rules.
func NormalizeTag(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func normalizeSet(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = NormalizeTag(s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// priorityRank orders priority names, 0 being the most urgent; ok is false
// for a name that is not a priority.
func priorityRank(name string) (rank int, ok bool) {
	p, err := ticket.ParsePriority(name)
	if err != nil {
		return 0, false
	}
	return p.Rank(), true
}

func validPriority(name string) bool {
	_, ok := priorityRank(name)
	return ok
}
