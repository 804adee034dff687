package ticket

import (
	"strings"
	"testing"
)

func TestDefaultTransitionsAreValid(t *testing.T) {
	if err := ValidateTransitions(DefaultTransitions()); err != nil {
		t.Fatal(err)
	}
}

func TestValidateTransitions(t *testing.T) {
	cases := []struct {
		name  string
		graph map[string][]string
		want  string // substring of the error; empty = valid
	}{
		{"empty", map[string][]string{}, "must list"},
		{"unknown from", map[string][]string{"open": {"closed"}, "done": {"open"}}, `"done"`},
		{"unknown to", map[string][]string{"open": {"done"}}, `"done"`},
		{"self loop", map[string][]string{"open": {"open"}}, "itself"},
		{"duplicate", map[string][]string{"open": {"closed", "closed"}}, "twice"},
		{"unreachable", map[string][]string{"open": {"closed"}, "closed": {"open"}}, "in_progress, pending, resolved"},
		{"linear", map[string][]string{"open": {"in_progress"}, "in_progress": {"pending"}, "pending": {"resolved"}, "resolved": {"closed"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateTransitions(c.graph)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to mention %s", err, c.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	g := DefaultTransitions()
	if ok, _ := Allowed(g, StatusOpen, StatusInProgress); !ok {
		t.Error("open -> in_progress must be allowed")
	}
	ok, moves := Allowed(g, StatusClosed, StatusResolved)
	if ok || strings.Join(moves, ",") != "open" {
		t.Errorf("closed -> resolved: allowed=%v moves=%v", ok, moves)
	}
}

func TestParseAndRank(t *testing.T) {
	if _, err := ParsePriority("urgent"); err == nil {
		t.Error("urgent accepted")
	}
	if PriorityCritical.Rank() >= PriorityLow.Rank() {
		t.Error("critical must sort before low")
	}
	if _, err := ParseStatus("in_progress"); err != nil {
		t.Error(err)
	}
}
