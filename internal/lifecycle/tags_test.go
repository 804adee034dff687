package lifecycle

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

func TestNormalizeTags(t *testing.T) {
	many := make([]string, MaxTagsPerChange+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, c := range []struct {
		name             string
		add, remove      []string
		wantAdd, wantRem []string
		problems         []string
	}{
		{"as rules add them: trimmed, lower case, sorted, once", []string{" VIP", "printer", "vip "}, []string{"Spam"},
			[]string{"printer", "vip"}, []string{"spam"}, nil},
		{"nothing", nil, nil, []string{}, []string{}, nil},
		{"empty tags", []string{"ok", " "}, []string{""}, []string{"ok"}, []string{},
			[]string{"tags_add[1]: must not be empty", "tags_remove[0]: must not be empty"}},
		{"too long", []string{strings.Repeat("é", rules.MaxTagLen+1)}, nil, []string{}, []string{},
			[]string{fmt.Sprintf("tags_add[0]: must be at most %d characters, got %d", rules.MaxTagLen, rules.MaxTagLen+1)}},
		{"as long as a rule's tag may be", []string{strings.Repeat("é", rules.MaxTagLen)}, nil,
			[]string{strings.Repeat("é", rules.MaxTagLen)}, []string{}, nil},
		{"too many", nil, many, []string{}, nil,
			[]string{fmt.Sprintf("tags_remove: at most %d tags, got %d", MaxTagsPerChange, MaxTagsPerChange+1)}},
		{"the same tag many times is one", slices.Repeat([]string{"x"}, MaxTagsPerChange+5), nil, []string{"x"}, []string{}, nil},
		{"added and removed", []string{"vip"}, []string{"VIP", "other"}, []string{"vip"}, []string{"other", "vip"},
			[]string{`tags_remove[0]: tag "vip" is also in tags_add`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			add, rem, probs := NormalizeTags(c.add, c.remove)
			if !slices.Equal(add, c.wantAdd) || c.wantRem != nil && !slices.Equal(rem, c.wantRem) {
				t.Errorf("got %q %q, want %q %q", add, rem, c.wantAdd, c.wantRem)
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.Field+": "+p.Detail)
			}
			if !slices.Equal(got, c.problems) {
				t.Errorf("problems %q, want %q", got, c.problems)
			}
		})
	}
}

func TestTagChangeAgainstTheTicket(t *testing.T) {
	full := make([]string, MaxTicketTags)
	for i := range full {
		full[i] = fmt.Sprintf("t%03d", i)
	}
	for _, c := range []struct {
		name              string
		current, add, rem []string
		wantAdd, wantRem  []string
		wantTags          []string
		tooMany           bool
	}{
		{"adds what is missing, removes what is there", []string{"a", "c"}, []string{"b", "c"}, []string{"a", "z"},
			[]string{"b"}, []string{"a"}, []string{"b", "c"}, false},
		{"nothing to do", []string{"a"}, []string{"a"}, []string{"b"}, []string{}, []string{}, []string{"a"}, false},
		{"a ticket without tags", nil, []string{"a"}, nil, []string{"a"}, []string{}, []string{"a"}, false},
		{"full: one more is refused", full, []string{"zzz"}, nil, []string{"zzz"}, []string{}, nil, true},
		{"full: one in, one out fits", full, []string{"zzz"}, []string{"t000"}, []string{"zzz"}, []string{"t000"},
			append(slices.Clone(full[1:]), "zzz"), false},
		{"full: removing is always fine", full, nil, []string{"t001"}, []string{}, []string{"t001"},
			append([]string{"t000"}, full[2:]...), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			add, rem, problem := TagChange(c.current, c.add, c.rem)
			if !slices.Equal(add, c.wantAdd) || !slices.Equal(rem, c.wantRem) {
				t.Errorf("change %q %q, want %q %q", add, rem, c.wantAdd, c.wantRem)
			}
			if (problem != nil) != c.tooMany {
				t.Fatalf("problem %+v, want one: %v", problem, c.tooMany)
			}
			if c.tooMany {
				if problem.Field != "tags_add" || !strings.Contains(problem.Detail, fmt.Sprint(MaxTicketTags)) {
					t.Errorf("problem %+v", problem)
				}
				return
			}
			tags, recorded := ApplyTags(c.current, ticket.TagsChanged{Added: c.add, Removed: c.rem})
			if !slices.Equal(tags, c.wantTags) {
				t.Errorf("tags %q, want %q", tags, c.wantTags)
			}
			if !reflect.DeepEqual(recorded, ticket.TagsChanged{Added: c.wantAdd, Removed: c.wantRem}) {
				t.Errorf("recorded %+v", recorded)
			}
		})
	}
}

// TestPlanTags: a tag change is one tags_changed event with the
// normalized tags (the store keeps those that change the row), refused as
// a whole when a tag is not valid, and requesters may not change tags.
func TestPlanTags(t *testing.T) {
	st := State{Number: 9, Status: ticket.StatusOpen, Priority: ticket.PriorityMedium, Seq: 4, CreatedAt: t0, Persisted: true,
		Fired: map[string]bool{}, BreachedAt: map[Clock]time.Time{}}
	pol := Policy{Transitions: ticket.DefaultTransitions()}
	agent := Actor{UserID: 3, Role: ticket.RoleAgent}
	high := ticket.PriorityHigh
	for _, c := range []struct {
		name   string
		req    ChangeRequest
		events []ticket.EventPayload
		reject string // rejection kind, "" when accepted
	}{
		{"add and remove", ChangeRequest{Actor: agent, TagsAdd: []string{" Printer", "vip"}, TagsRemove: []string{"Spam"}},
			[]ticket.EventPayload{ticket.TagsChanged{Added: []string{"printer", "vip"}, Removed: []string{"spam"}}}, ""},
		{"with a priority, in one change", ChangeRequest{Actor: agent, Priority: &high, TagsAdd: []string{"vip"}},
			[]ticket.EventPayload{ticket.PriorityChanged{From: ticket.PriorityMedium, To: high}, ticket.TagsChanged{Added: []string{"vip"}, Removed: []string{}}}, ""},
		{"an empty tag", ChangeRequest{Actor: agent, Priority: &high, TagsAdd: []string{" "}}, nil, ErrInvalid},
		{"added and removed", ChangeRequest{Actor: agent, TagsAdd: []string{"a"}, TagsRemove: []string{"A"}}, nil, ErrInvalid},
		{"a requester", ChangeRequest{Actor: Actor{UserID: 8, Role: ticket.RoleRequester}, TagsRemove: []string{"vip"}}, nil, ErrForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanChange(st, pol, sla.AlwaysOpen(), c.req, nil, t0)
			if c.reject != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != c.reject {
					t.Fatalf("got %v, want a %s rejection", err, c.reject)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []ticket.EventPayload
			for i, e := range p.Events {
				got = append(got, e.Data)
				if e.Seq != st.Seq+int64(i)+1 || e.Kind != e.Data.Kind() {
					t.Errorf("event %d: seq %d kind %s", i, e.Seq, e.Kind)
				}
			}
			if !reflect.DeepEqual(got, c.events) {
				t.Errorf("events %#v, want %#v", got, c.events)
			}
		})
	}
}
