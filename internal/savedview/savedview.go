// Package savedview is what a saved view is and who may do what with one
// (issue 20): a name, a search query (internal/query) and a sort, kept by
// a staff member for themselves, shared with one of the teams they lead,
// or (admins) with all staff; and the built-in views everyone has. The
// rules are plain functions of the caller's principal, so the API and
// its tests decide with the same code; the rows are internal/store's.
package savedview

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpdesk/helpdesk/internal/query"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Visibility is who sees a view.
type Visibility string

// The visibilities.
const (
	// Personal: its owner only (not even admins list it).
	Personal Visibility = "personal"
	// Team: the members and leads of one team, and admins.
	Team Visibility = "team"
	// Everyone: all staff.
	Everyone Visibility = "everyone"
)

// Sorts are the orders a view may ask for: the search API's.
var Sorts = query.Sorts

// DefaultSort is the sort of a view saved without one.
const DefaultSort = "relevance"

// Limits of a view.
const (
	MaxNameLen = 100 // characters
	// MaxPosition bounds the order key within a group of the list.
	MaxPosition = 10000
	// MaxPerOwner bounds how many views one person keeps (personal and
	// shared together): a sidebar, not a database.
	MaxPerOwner = 200
)

// View is a stored view.
type View struct {
	ID         int64
	OwnerID    int64
	Name       string
	Query      string
	Sort       string
	Visibility Visibility
	// TeamID is the team of a Team view, nil otherwise.
	TeamID    *int64
	Position  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Problem is what is wrong with one field of a view, in words for its
// author. Pos is the byte offset in the query for query problems.
type Problem struct {
	Field  string
	Detail string
	Pos    *int
}

// Check validates v's own fields (not who may share it) and returns it
// cleaned: the name trimmed, the sort defaulted. Every problem is
// reported, each naming its field.
func Check(v View) (View, []Problem) {
	var probs []Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, Problem{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	v.Name = strings.TrimSpace(v.Name)
	switch n := utf8.RuneCountInString(v.Name); {
	case !utf8.ValidString(v.Name):
		add("name", "is not valid UTF-8")
	case n == 0:
		add("name", "must not be empty")
	case n > MaxNameLen:
		add("name", "is longer than %d characters", MaxNameLen)
	case strings.ContainsFunc(v.Name, isControl):
		add("name", "must not contain control characters")
	}
	if p := CheckQuery(v.Query); p != nil {
		probs = append(probs, *p)
	}
	if v.Sort == "" {
		v.Sort = DefaultSort
	}
	if !slices.Contains(Sorts, v.Sort) {
		add("sort", "unknown sort%s; want one of %s", echo(v.Sort), strings.Join(Sorts, ", "))
	}
	switch v.Visibility {
	case Personal, Everyone:
		if v.TeamID != nil {
			add("team_id", "is only for team views (visibility %q has none)", v.Visibility)
		}
	case Team:
		if v.TeamID == nil {
			add("team_id", "is required for a team view")
		}
	default:
		add("visibility", "unknown visibility%s; want personal, team or everyone", echo(string(v.Visibility)))
	}
	if v.Position < 0 || v.Position > MaxPosition {
		add("position", "must be a whole number from 0 to %d", MaxPosition)
	}
	return v, probs
}

// CheckQuery parses q as the search box would: a query that does not
// parse is a problem on "query" naming the parser's position and reason.
func CheckQuery(q string) *Problem {
	_, err := query.Parse(q)
	if err == nil {
		return nil
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		pos := qe.Pos
		return &Problem{Field: "query", Detail: qe.Error(), Pos: &pos}
	}
	return &Problem{Field: "query", Detail: err.Error()}
}

// echo quotes a value the caller sent back to them in a problem, unless it
// is too long to be a mistyped word.
func echo(v string) string {
	if len(v) > 32 {
		return ""
	}
	return fmt.Sprintf(" %q", v)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// Caller is who asks, as far as views are concerned: the API builds it
// from the request's principal.
type Caller struct {
	UserID int64
	// Role is one of ticket.Role*.
	Role string
	// TeamIDs are the teams the caller works (member or lead); LeadOf
	// those they lead.
	TeamIDs, LeadOf []int64
}

// staff reports whether p works tickets: only staff keep views.
func staff(p Caller) bool {
	return p.UserID != 0 && (p.Role == ticket.RoleAgent || p.Role == ticket.RoleLead || p.Role == ticket.RoleAdmin)
}

// CanSee reports whether p lists and reads v: its owner; for a team view
// the team's members and leads, and admins; for an everyone view all
// staff. Anyone else is told the view does not exist.
func CanSee(p Caller, v View) bool {
	if !staff(p) {
		return false
	}
	if v.OwnerID == p.UserID {
		return true
	}
	switch v.Visibility {
	case Team:
		return v.TeamID != nil && (p.Role == ticket.RoleAdmin || slices.Contains(p.TeamIDs, *v.TeamID) || slices.Contains(p.LeadOf, *v.TeamID))
	case Everyone:
		return true
	}
	return false
}

// NotAllowedError is a refusal: Reason says why, in words fit for the
// caller.
type NotAllowedError struct{ Reason string }

func (e *NotAllowedError) Error() string { return "savedview: not allowed: " + e.Reason }

func notAllowed(format string, args ...any) error {
	return &NotAllowedError{Reason: fmt.Sprintf(format, args...)}
}

// MayShare reports (nil) whether p may keep a view with this visibility:
// any staff member a personal one; a lead a team view of a team they lead;
// an admin a view for any team or for everyone.
func MayShare(p Caller, vis Visibility, teamID *int64) error {
	if !staff(p) {
		return notAllowed("only staff keep views")
	}
	admin := p.Role == ticket.RoleAdmin
	switch vis {
	case Personal:
		return nil
	case Team:
		if admin || teamID != nil && p.Role == ticket.RoleLead && slices.Contains(p.LeadOf, *teamID) {
			return nil
		}
		if p.Role == ticket.RoleLead {
			return notAllowed("a lead shares views only with the teams they lead")
		}
		return notAllowed("the %s role may not share views; save it as personal", p.Role)
	case Everyone:
		if admin {
			return nil
		}
		return notAllowed("only admins share views with everyone")
	}
	return notAllowed("unknown visibility %q", vis)
}

// CanEdit reports (nil) whether p may change v: a personal view is its
// owner's alone; a shared view may be changed by whoever may share with
// its audience now (a lead of its team, an admin), its owner included
// while they still may.
func CanEdit(p Caller, v View) error {
	if !CanSee(p, v) {
		return notAllowed("no such view")
	}
	if v.Visibility == Personal {
		if v.OwnerID == p.UserID {
			return nil
		}
		return notAllowed("a personal view is changed only by its owner")
	}
	if err := MayShare(p, v.Visibility, v.TeamID); err != nil {
		if v.Visibility == Team {
			return notAllowed("a team view is changed by a lead of its team or an admin")
		}
		return notAllowed("a view shared with everyone is changed by an admin")
	}
	return nil
}

// CanDelete reports (nil) whether p may delete v: whoever may change it,
// and its owner in any case (someone who no longer leads a team may still
// withdraw what they shared with it).
func CanDelete(p Caller, v View) error {
	if CanSee(p, v) && v.OwnerID == p.UserID {
		return nil
	}
	return CanEdit(p, v)
}

// CanMove reports (nil) whether p, who may change v (CanEdit), may give
// it the visibility to and team teamID: the new audience must be one p
// may share with, and only the owner makes a view personal again (it
// would otherwise vanish into someone else's private list).
func CanMove(p Caller, v View, to Visibility, teamID *int64) error {
	if to == Personal && v.Visibility != Personal && v.OwnerID != p.UserID {
		return notAllowed("only the view's owner may make it personal")
	}
	return MayShare(p, to, teamID)
}

// Builtin is a view every staff member has, kept in code, not stored.
type Builtin struct {
	// Key names it in its id, "builtin:<key>".
	Key   string
	Name  string
	Query string
	Sort  string
}

// BuiltinPrefix starts a built-in view's id.
const BuiltinPrefix = "builtin:"

// ID is the built-in view's id in the API.
func (b Builtin) ID() string { return BuiltinPrefix + b.Key }

// stillOpen is the statuses of work not yet done.
const stillOpen = "status:open,in_progress,pending"

// Builtins are the views every staff member has, in the order they are
// listed. A caller's scope narrows them like any search: an agent's
// "Unassigned in my teams" is their teams' (and untriaged) tickets, an
// admin's all teams'.
var Builtins = []Builtin{
	{Key: "my-open", Name: "My open", Query: "assignee:me " + stillOpen, Sort: "urgency"},
	{Key: "unassigned", Name: "Unassigned in my teams", Query: "assignee:none " + stillOpen, Sort: "urgency"},
	{Key: "breaching", Name: "Breaching within 2h", Query: "due:<2h " + stillOpen, Sort: "urgency"},
	{Key: "escalated", Name: "Escalated", Query: "escalated:true " + stillOpen, Sort: "urgency"},
	{Key: "recent", Name: "Recently updated", Query: "updated:<1d", Sort: "-updated"},
}

// BuiltinByID returns the built-in view with id ("builtin:<key>").
func BuiltinByID(id string) (Builtin, bool) {
	for _, b := range Builtins {
		if b.ID() == id {
			return b, true
		}
	}
	return Builtin{}, false
}

// Group orders the list: built-ins first, then personal, team and
// everyone views.
func Group(v View) int {
	switch v.Visibility {
	case Personal:
		return 1
	case Team:
		return 2
	}
	return 3
}

// SortForList orders views as GET /views lists them: by group, then
// position, then name (case-insensitively), then id.
func SortForList(vs []View) {
	slices.SortStableFunc(vs, func(a, b View) int {
		if d := Group(a) - Group(b); d != 0 {
			return d
		}
		if d := a.Position - b.Position; d != 0 {
			return d
		}
		if d := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); d != 0 {
			return d
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}
