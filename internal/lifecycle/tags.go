package lifecycle

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Tag limits for changes people make (PATCH tags_add/tags_remove, bulk
// actions). A tag is 1 to rules.MaxTagLen characters once normalized the
// way rules add tags (rules.NormalizeTag: trimmed, lower case), so a tag
// added by hand and the same tag added by a rule are one tag.
const (
	// MaxTagsPerChange bounds each of a change's lists (tags to add, tags
	// to remove).
	MaxTagsPerChange = 20
	// MaxTicketTags bounds how many tags a person's change may leave on a
	// ticket.
	MaxTicketTags = 100
)

// NormalizeTags returns the tags a change adds and removes as tickets
// carry them (normalized, sorted, each once) and what is wrong with them,
// field by field ("tags_add[2]", "tags_remove"): an empty or too long tag,
// too many tags, a tag both added and removed.
func NormalizeTags(add, remove []string) (adds, removes []string, problems []FieldProblem) {
	adds, problems = normalizeTagList("tags_add", add, problems)
	removes, problems = normalizeTagList("tags_remove", remove, problems)
	for i, t := range remove {
		if n := rules.NormalizeTag(t); n != "" && slices.Contains(adds, n) {
			problems = append(problems, FieldProblem{Field: fmt.Sprintf("tags_remove[%d]", i), Detail: fmt.Sprintf("tag %q is also in tags_add", n)})
		}
	}
	return adds, removes, problems
}

func normalizeTagList(field string, in []string, problems []FieldProblem) ([]string, []FieldProblem) {
	out := make([]string, 0, len(in))
	for i, t := range in {
		n := rules.NormalizeTag(t)
		switch l := utf8.RuneCountInString(n); {
		case l == 0:
			problems = append(problems, FieldProblem{Field: fmt.Sprintf("%s[%d]", field, i), Detail: "must not be empty"})
			continue
		case l > rules.MaxTagLen:
			problems = append(problems, FieldProblem{Field: fmt.Sprintf("%s[%d]", field, i),
				Detail: fmt.Sprintf("must be at most %d characters, got %d", rules.MaxTagLen, l)})
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTagsPerChange {
		problems = append(problems, FieldProblem{Field: field, Detail: fmt.Sprintf("at most %d tags, got %d", MaxTagsPerChange, len(out))})
	}
	return out, problems
}

// TagChange is what adding and removing (normalized) tags does to a ticket
// that has current: the tags it really adds and removes (the others it
// already has, or lacks), and a problem when the ticket would be left
// with more than MaxTicketTags.
func TagChange(current, add, remove []string) (adds, removes []string, problem *FieldProblem) {
	adds, removes = []string{}, []string{}
	for _, t := range add {
		if !slices.Contains(current, t) {
			adds = append(adds, t)
		}
	}
	for _, t := range remove {
		if slices.Contains(current, t) {
			removes = append(removes, t)
		}
	}
	if n := len(current) + len(adds) - len(removes); len(adds) > 0 && n > MaxTicketTags {
		return adds, removes, &FieldProblem{Field: "tags_add",
			Detail: fmt.Sprintf("the ticket would have %d tags; a ticket keeps at most %d", n, MaxTicketTags)}
	}
	return adds, removes, nil
}

// ApplyTags is current with a tags change applied, sorted, and the tags
// that really changed (what the event records).
func ApplyTags(current []string, ch ticket.TagsChanged) ([]string, ticket.TagsChanged) {
	adds, removes, _ := TagChange(current, ch.Added, ch.Removed)
	out := make([]string, 0, len(current)+len(adds))
	for _, t := range current {
		if !slices.Contains(removes, t) {
			out = append(out, t)
		}
	}
	out = append(out, adds...)
	slices.Sort(out)
	return slices.Compact(out), ticket.TagsChanged{Added: adds, Removed: removes}
}
