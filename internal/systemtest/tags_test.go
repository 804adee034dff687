package systemtest

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestPatchTags: an agent adds and removes tags through PATCH; the ticket,
// its history and the search index show them, normalized as rules add
// them; a change to tags the ticket already has (or lacks) writes
// nothing; bad tags are 422 naming the tag; requesters may not change
// tags nor see them change.
func TestPatchTags(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Tag me")
	tag := fmt.Sprintf("pt%d", time.Now().UnixNano())

	res := patchAs(t, agent, n, fmt.Sprintf(`{"tags_add":[" %s ","Printer","PRINTER"]}`, tag))
	mustStatus(t, res, http.StatusOK, "add tags")
	var tk ticket.Ticket
	res.decode(t, &tk)
	if want := []string{"printer", tag}; !slices.Equal(tk.Tags, want) {
		t.Fatalf("tags %q, want %q", tk.Tags, want)
	}

	// Searchable by the tag: the change was indexed.
	eventually(t, 10*time.Second, "tagged ticket found by tag", func() error {
		got, res := searchNumbers(t, nil, "tag="+tag)
		if !slices.Equal(got, []int64{n}) {
			return fmt.Errorf("search tag=%s: %v (%d %s)", tag, got, res.status, res.body)
		}
		return nil
	})

	res = patchAs(t, agent, n, fmt.Sprintf(`{"tags_add":["printer","3rd floor"],"tags_remove":["%s","never-there"]}`, tag))
	mustStatus(t, res, http.StatusOK, "add and remove")
	res.decode(t, &tk)
	if want := []string{"3rd floor", "printer"}; !slices.Equal(tk.Tags, want) {
		t.Fatalf("tags %q, want %q", tk.Tags, want)
	}
	eventually(t, 10*time.Second, "untagged ticket no longer found by the tag", func() error {
		if got, _ := searchNumbers(t, nil, "tag="+tag); len(got) != 0 {
			return fmt.Errorf("search tag=%s: %v", tag, got)
		}
		return nil
	})

	// The history records what really changed, each time.
	var changes []map[string]any
	for _, h := range historyAs(t, agent, n) {
		if h.Kind == ticket.EventTagsChanged {
			if h.actorID() != env.users["agent"].ID {
				t.Errorf("tags changed by %s", h.Actor)
			}
			changes = append(changes, h.Data)
		}
	}
	want := []string{fmt.Sprintf("added [printer %s] removed []", tag), fmt.Sprintf("added [3rd floor] removed [%s]", tag)}
	if len(changes) != len(want) {
		t.Fatalf("tag events %v, want %d", changes, len(want))
	}
	for i, c := range changes {
		if got := fmt.Sprintf("added %v removed %v", c["added"], c["removed"]); got != want[i] {
			t.Errorf("event %d: %s, want %s", i, got, want[i])
		}
	}

	// Nothing new: 200, nothing written.
	before := rowOf(t, n).Seq
	mustStatus(t, patchAs(t, agent, n, `{"tags_add":["Printer"],"tags_remove":["gone"]}`), http.StatusOK, "no-op tags")
	if after := rowOf(t, n).Seq; after != before {
		t.Errorf("a change to tags the ticket has wrote events %d..%d", before, after)
	}

	// Bad tags name the tag; nothing changes.
	res = patchAs(t, agent, n, `{"priority":"high","tags_add":["ok",""],"tags_remove":["OK"]}`)
	mustStatus(t, res, http.StatusUnprocessableEntity, "bad tags")
	if got := problemFields(t, res); !slices.Equal(got, []string{"tags_add[1]", "tags_remove[0]"}) {
		t.Errorf("problem fields %v", got)
	}
	if row := rowOf(t, n); row.Seq != before || row.Priority == ticket.PriorityHigh {
		t.Errorf("a refused change was applied: %+v", row)
	}

	// Requesters neither change tags nor see them change.
	mustStatus(t, patchAs(t, req, n, `{"tags_remove":["printer"]}`), http.StatusForbidden, "requester removes a tag")
	for _, h := range historyAs(t, req, n) {
		if h.Kind == ticket.EventTagsChanged {
			t.Errorf("the requester sees a tag change: %+v", h)
		}
	}
}
