package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Candidate is a team member as seen by the routing transaction.
type Candidate struct {
	ID       int64
	Load     int // open tickets assigned to them
	Capacity int // 0: no cap
	Away     bool
	Skills   []string
}

// Choice is the agent picked and why.
type Choice struct {
	AgentID *int64
	// Reason is for the routed event: "agent 31 (0 of no limit open)" or
	// "agent 31 (3 of 5 open)"; when nobody: "nobody available (1 away,
	// 4 at capacity, 2 without skills printers; 1 excluded); left unassigned
	// in the team queue", naming only the non-zero parts, the skills part
	// listing the required skills those members lack, joined by " and ".
	// A team without members gives "nobody available (no members); ...".
	Reason string
	// Cursor is the new round-robin cursor: the chosen agent's id, or the
	// cursor passed in when nobody was chosen.
	Cursor int64
}

// Choose picks an agent among cands (any order; they are sorted by ID
// inside, and a repeated ID counts once) for strategy. cursor is the
// team's last chosen agent id (0: none). skills are required skills (all
// of them, case-insensitively), applied for every strategy when non-empty;
// exclude lists agents that must not be chosen (e.g. the agent a ticket is
// rerouted away from). Away and at-capacity (Capacity > 0 && Load >=
// Capacity) members are skipped. A member is counted in the first of
// excluded, away, at capacity, without skills that applies.
//
// round_robin (also for "" or an unknown strategy, so a bad row still
// routes): the first eligible member with ID > cursor, wrapping around to
// the lowest eligible. least_loaded and skills: minimum Load; ties broken
// the same round-robin way among the tied.
func Choose(strategy string, cands []Candidate, cursor int64, skills []string, exclude []int64) Choice {
	members := slices.Clone(cands)
	slices.SortStableFunc(members, func(a, b Candidate) int { return cmp.Compare(a.ID, b.ID) })
	members = slices.CompactFunc(members, func(a, b Candidate) bool { return a.ID == b.ID })

	required := normalizeSet(skills)
	required = slices.DeleteFunc(required, func(s string) bool { return s == "" })

	var eligible []Candidate
	var away, full, unskilled, excluded int
	missing := map[string]bool{}
	for _, c := range members {
		switch {
		case slices.Contains(exclude, c.ID):
			excluded++
		case c.Away:
			away++
		case c.Capacity > 0 && c.Load >= c.Capacity:
			full++
		default:
			if lacks := lacking(c.Skills, required); len(lacks) > 0 {
				unskilled++
				for _, s := range lacks {
					missing[s] = true
				}
				continue
			}
			eligible = append(eligible, c)
		}
	}
	if len(eligible) == 0 {
		return Choice{Reason: nobodyReason(len(members), away, full, unskilled, excluded, missing), Cursor: cursor}
	}

	pool := eligible
	if strategy == StrategyLeastLoaded || strategy == StrategySkills {
		least := slices.MinFunc(eligible, func(a, b Candidate) int { return cmp.Compare(a.Load, b.Load) }).Load
		pool = slices.DeleteFunc(slices.Clone(eligible), func(c Candidate) bool { return c.Load != least })
	}
	pick := pool[0]
	for _, c := range pool {
		if c.ID > cursor {
			pick = c
			break
		}
	}
	id := pick.ID
	return Choice{AgentID: &id, Reason: agentReason(pick), Cursor: id}
}

// lacking returns the required skills (already normalized) missing from have.
func lacking(have, required []string) []string {
	if len(required) == 0 {
		return nil
	}
	got := map[string]bool{}
	for _, s := range have {
		got[fold(strings.TrimSpace(s))] = true
	}
	var out []string
	for _, s := range required {
		if !got[fold(s)] {
			out = append(out, s)
		}
	}
	return out
}

func agentReason(c Candidate) string {
	limit := "no limit"
	if c.Capacity > 0 {
		limit = fmt.Sprint(c.Capacity)
	}
	return fmt.Sprintf("agent %d (%d of %s open)", c.ID, c.Load, limit)
}

func nobodyReason(members, away, full, unskilled, excluded int, missing map[string]bool) string {
	var parts []string
	if away > 0 {
		parts = append(parts, fmt.Sprintf("%d away", away))
	}
	if full > 0 {
		parts = append(parts, fmt.Sprintf("%d at capacity", full))
	}
	if unskilled > 0 {
		lacks := make([]string, 0, len(missing))
		for s := range missing {
			lacks = append(lacks, s)
		}
		slices.Sort(lacks)
		parts = append(parts, fmt.Sprintf("%d without skills %s", unskilled, strings.Join(lacks, " and ")))
	}
	why := strings.Join(parts, ", ")
	if excluded > 0 {
		if why != "" {
			why += "; "
		}
		why += fmt.Sprintf("%d excluded", excluded)
	}
	if members == 0 {
		why = "no members"
	}
	return "nobody available (" + why + "); left unassigned in the team queue"
}
