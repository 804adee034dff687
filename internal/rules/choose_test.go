package rules

import (
	"fmt"
	"slices"
	"testing"
)

func TestChoose(t *testing.T) {
	// Deliberately out of id order.
	team := func() []Candidate {
		return []Candidate{
			{ID: 31, Load: 2},
			{ID: 12, Load: 1, Capacity: 5, Skills: []string{"Printers", "network"}},
			{ID: 7, Load: 2, Skills: []string{"printers"}},
			{ID: 44, Load: 3, Capacity: 3},
			{ID: 20, Load: 1, Skills: []string{"NETWORK", " printers "}},
		}
	}
	with := func(id int64, f func(*Candidate)) func([]Candidate) []Candidate {
		return func(cs []Candidate) []Candidate {
			for i := range cs {
				if cs[i].ID == id {
					f(&cs[i])
				}
			}
			return cs
		}
	}
	cases := []struct {
		name     string
		strategy string
		cands    func([]Candidate) []Candidate
		cursor   int64
		skills   []string
		exclude  []int64
		want     int64 // 0: nobody
		reason   string
	}{
		{name: "round robin from no cursor takes the lowest id", strategy: StrategyRoundRobin, cursor: 0, want: 7, reason: "agent 7 (2 of no limit open)"},
		{name: "round robin takes the next id", strategy: StrategyRoundRobin, cursor: 7, want: 12, reason: "agent 12 (1 of 5 open)"},
		{name: "round robin after a non-member id", strategy: StrategyRoundRobin, cursor: 13, want: 20},
		{name: "round robin wraps around", strategy: StrategyRoundRobin, cursor: 44, want: 7},
		{name: "round robin skips at capacity and wraps", strategy: StrategyRoundRobin, cursor: 40, want: 7},
		{name: "round robin skips away", strategy: StrategyRoundRobin, cursor: 7, want: 20,
			cands: with(12, func(c *Candidate) { c.Away = true })},
		{name: "round robin skips at capacity", strategy: StrategyRoundRobin, cursor: 7, want: 20,
			cands: with(12, func(c *Candidate) { c.Load = 5 })},
		{name: "capacity zero is no cap", strategy: StrategyRoundRobin, cursor: 20, want: 31,
			cands: with(31, func(c *Candidate) { c.Load = 1000 }), reason: "agent 31 (1000 of no limit open)"},
		{name: "over capacity is skipped too", strategy: StrategyRoundRobin, cursor: 7, want: 20,
			cands: with(12, func(c *Candidate) { c.Load = 9 })},
		{name: "round robin skips excluded", strategy: StrategyRoundRobin, cursor: 7, exclude: []int64{12, 99}, want: 20},
		{name: "empty strategy is round robin", strategy: "", cursor: 7, want: 12},
		{name: "unknown strategy is round robin", strategy: "random", cursor: 12, want: 20},
		{name: "round robin applies required skills", strategy: StrategyRoundRobin, cursor: 12, skills: []string{"network"}, want: 20},
		{name: "least loaded takes the minimum", strategy: StrategyLeastLoaded, cursor: 0, want: 12,
			cands: with(20, func(c *Candidate) { c.Load = 4 })},
		{name: "least loaded ties from no cursor", strategy: StrategyLeastLoaded, cursor: 0, want: 12},
		{name: "least loaded ties go round robin", strategy: StrategyLeastLoaded, cursor: 12, want: 20},
		{name: "least loaded ties wrap around", strategy: StrategyLeastLoaded, cursor: 20, want: 12},
		{name: "least loaded ignores cursor order for non-tied", strategy: StrategyLeastLoaded, cursor: 20, want: 7,
			cands: with(7, func(c *Candidate) { c.Load = 0 })},
		{name: "least loaded skips an at-capacity member with the least load", strategy: StrategyLeastLoaded, want: 20,
			cands: with(12, func(c *Candidate) { c.Capacity = 1 })},
		{name: "least loaded skips an away member with the least load", strategy: StrategyLeastLoaded, want: 20,
			cands: with(12, func(c *Candidate) { c.Away = true })},
		{name: "least loaded skips excluded", strategy: StrategyLeastLoaded, exclude: []int64{12}, want: 20},
		{name: "skills filters case-insensitively then least loaded", strategy: StrategySkills, skills: []string{"PRINTERS"}, want: 12},
		{name: "skills ties go round robin", strategy: StrategySkills, skills: []string{"printers"}, cursor: 12, want: 20},
		{name: "skills needs every skill", strategy: StrategySkills, skills: []string{"printers", "Network"}, cursor: 20, want: 12},
		{name: "skills picks a loaded member when only they qualify", strategy: StrategySkills, skills: []string{"printers"}, want: 7,
			cands: func(cs []Candidate) []Candidate {
				noSkills := func(c *Candidate) { c.Skills = nil }
				return with(20, noSkills)(with(12, noSkills)(cs))
			}, reason: "agent 7 (2 of no limit open)"},
		{name: "skills strategy without skills is least loaded", strategy: StrategySkills, cursor: 12, want: 20},
		{name: "least loaded applies required skills", strategy: StrategyLeastLoaded, skills: []string{"printers"}, cursor: 20, want: 12},

		// nobody
		{name: "nobody: every part", strategy: StrategyRoundRobin, cursor: 7, skills: []string{"printers"},
			cands: func([]Candidate) []Candidate {
				return []Candidate{
					{ID: 1, Away: true},
					{ID: 2, Load: 1, Capacity: 1, Skills: []string{"printers"}},
					{ID: 3, Load: 2, Capacity: 1},
					{ID: 4, Load: 5, Capacity: 5},
					{ID: 5, Load: 3, Capacity: 2},
					{ID: 6, Skills: []string{"network"}},
					{ID: 8},
					{ID: 9, Skills: []string{"printers"}},
				}
			},
			exclude: []int64{9},
			reason:  "nobody available (1 away, 4 at capacity, 2 without skills printers; 1 excluded); left unassigned in the team queue"},
		{name: "nobody: away and at capacity", strategy: StrategyLeastLoaded,
			cands: func([]Candidate) []Candidate {
				return []Candidate{{ID: 1, Away: true}, {ID: 2, Away: true}, {ID: 3, Load: 4, Capacity: 4}}
			},
			reason: "nobody available (2 away, 1 at capacity); left unassigned in the team queue"},
		{name: "nobody: only excluded", strategy: StrategyRoundRobin, exclude: []int64{5},
			cands:  func([]Candidate) []Candidate { return []Candidate{{ID: 5}} },
			reason: "nobody available (1 excluded); left unassigned in the team queue"},
		{name: "nobody: skills lists every missing skill", strategy: StrategySkills, skills: []string{"Printers", "network", "printers"},
			cands: func([]Candidate) []Candidate {
				return []Candidate{{ID: 1, Skills: []string{"network"}}, {ID: 2}, {ID: 3, Skills: []string{"printers"}}}
			},
			reason: "nobody available (3 without skills network and printers); left unassigned in the team queue"},
		{name: "nobody: no members", strategy: StrategyRoundRobin, cursor: 7,
			cands:  func([]Candidate) []Candidate { return nil },
			reason: "nobody available (no members); left unassigned in the team queue"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cands := team()
			if c.cands != nil {
				cands = c.cands(cands)
			}
			before := slices.Clone(cands)
			got := Choose(c.strategy, cands, c.cursor, c.skills, c.exclude)
			if !slices.EqualFunc(cands, before, func(a, b Candidate) bool { return a.ID == b.ID }) {
				t.Errorf("Choose reordered its input")
			}
			if c.want == 0 {
				if got.AgentID != nil {
					t.Fatalf("chose agent %d, want nobody (%s)", *got.AgentID, got.Reason)
				}
				if got.Cursor != c.cursor {
					t.Errorf("cursor %d, want unchanged %d", got.Cursor, c.cursor)
				}
			} else {
				if got.AgentID == nil {
					t.Fatalf("chose nobody (%s), want agent %d", got.Reason, c.want)
				}
				if *got.AgentID != c.want || got.Cursor != c.want {
					t.Fatalf("chose agent %d with cursor %d, want %d (%s)", *got.AgentID, got.Cursor, c.want, got.Reason)
				}
			}
			if c.reason != "" && got.Reason != c.reason {
				t.Errorf("reason %q, want %q", got.Reason, c.reason)
			}
		})
	}
}

func TestChooseRepeatedCandidateCountsOnce(t *testing.T) {
	got := Choose(StrategyRoundRobin, []Candidate{{ID: 3, Away: true}, {ID: 3, Away: true}}, 0, nil, nil)
	if got.AgentID != nil || got.Reason != "nobody available (1 away); left unassigned in the team queue" {
		t.Fatalf("got %+v", got)
	}
}

// TestRoundRobinIsFair feeds the cursor back as the routing transaction
// does and checks that no agent gets more than one ticket more than another.
func TestRoundRobinIsFair(t *testing.T) {
	cands := []Candidate{{ID: 70}, {ID: 3}, {ID: 15}, {ID: 9}, {ID: 41}, {ID: 28}, {ID: 2}}
	counts := map[int64]int{}
	var cursor int64
	for range 10000 {
		c := Choose(StrategyRoundRobin, cands, cursor, nil, nil)
		if c.AgentID == nil {
			t.Fatalf("nobody chosen: %s", c.Reason)
		}
		counts[*c.AgentID]++
		cursor = c.Cursor
	}
	if len(counts) != len(cands) {
		t.Fatalf("only %d of %d agents chosen: %v", len(counts), len(cands), counts)
	}
	lo, hi := 10000, 0
	for _, n := range counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		t.Fatalf("unfair counts %v", counts)
	}
}

// TestLeastLoadedFillsToCapacity assigns until nobody can take more, as a
// burst of new tickets would, and checks every agent ends exactly full.
func TestLeastLoadedFillsToCapacity(t *testing.T) {
	for _, strategy := range []string{StrategyLeastLoaded, StrategySkills, StrategyRoundRobin} {
		t.Run(strategy, func(t *testing.T) {
			cands := []Candidate{
				{ID: 5, Capacity: 3, Skills: []string{"a"}},
				{ID: 1, Capacity: 1, Load: 1, Skills: []string{"a"}},
				{ID: 8, Capacity: 7, Load: 2, Skills: []string{"a"}},
				{ID: 3, Capacity: 4, Skills: []string{"a"}},
			}
			var cursor int64
			assigned := 0
			for range 100 {
				c := Choose(strategy, cands, cursor, []string{"A"}, nil)
				if c.AgentID == nil {
					want := fmt.Sprintf("nobody available (%d at capacity); left unassigned in the team queue", len(cands))
					if c.Reason != want {
						t.Fatalf("reason %q, want %q", c.Reason, want)
					}
					break
				}
				i := slices.IndexFunc(cands, func(x Candidate) bool { return x.ID == *c.AgentID })
				if strategy != StrategyRoundRobin {
					for _, o := range cands {
						if (o.Capacity == 0 || o.Load < o.Capacity) && o.Load < cands[i].Load {
							t.Fatalf("chose %d with load %d over %d with load %d", cands[i].ID, cands[i].Load, o.ID, o.Load)
						}
					}
				}
				cands[i].Load++
				cursor = c.Cursor
				assigned++
			}
			for _, c := range cands {
				if c.Load != c.Capacity {
					t.Errorf("agent %d ended with %d of %d", c.ID, c.Load, c.Capacity)
				}
			}
			if assigned != 3+0+5+4 {
				t.Errorf("assigned %d tickets, want 12", assigned)
			}
		})
	}
}
