package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestBrowserSearchAndBulk drives the staff search screen in Chromium
// (web/e2e/search-bulk.mjs): an agent's tickets sharing one word (more
// than a page of them, one with HTML in its subject, one closed), then
// suggestions, a refused query shown at its position, highlights, facets,
// the windowed list, a saved view's count, and select all → bulk resolve →
// progress with the closed ticket as the one failure. Afterwards the
// server must hold what the browser showed: every open ticket resolved
// exactly once by the agent, the closed one left alone.
func TestBrowserSearchAndBulk(t *testing.T) {
	const total = 64
	agent := login(t, "agent@example.com", testPassword)
	word := fmt.Sprintf("srchui%d", time.Now().UnixNano())
	// Filed by the agent: their own requests are always in their scope,
	// whatever team routing gives them.
	numbers := make([]int64, 0, total)
	for i := 0; i < total-2; i++ {
		numbers = append(numbers, createAs(t, agent, fmt.Sprintf("%s printer jam %d", word, i)))
	}
	html := createAs(t, agent, fmt.Sprintf(`<img src=x onerror="window.__xss=1"> %s printer`, word))
	closed := createAs(t, agent, fmt.Sprintf("%s printer long gone", word))
	mustStatus(t, patchAs(t, agent, closed, `{"status":"closed"}`), http.StatusOK, "close")
	numbers = append(numbers, html)

	eventually(t, 30*time.Second, "the tickets searchable", func() error {
		_ = env.index.Refresh(context.Background())
		a, res := find(t, agent, word, "limit=1&facets=false")
		if res.status != http.StatusOK {
			return fmt.Errorf("search %d %s", res.status, res.body)
		}
		if a.Total != total {
			return fmt.Errorf("%d of %d found", a.Total, total)
		}
		return nil
	})

	runE2E(t, "search-bulk.mjs", 4*time.Minute,
		"E2E_EMAIL=agent@example.com", "E2E_PASSWORD="+testPassword, "E2E_WORD="+word,
		"E2E_TOTAL="+strconv.Itoa(total), fmt.Sprintf("E2E_HTML_ID=%d", html), fmt.Sprintf("E2E_CLOSED_ID=%d", closed))

	agentRef := fmt.Sprintf("user:%d", env.users["agent"].ID)
	for _, n := range numbers {
		if st := rowOf(t, n).Status; st != ticket.StatusResolved {
			t.Errorf("ticket #%d is %s after the bulk resolve, want resolved", n, st)
		}
		resolves := 0
		for _, e := range eventsOf(t, n) {
			if d, ok := e.Data.(ticket.StatusChanged); ok && d.To == ticket.StatusResolved {
				resolves++
				if e.Actor != agentRef {
					t.Errorf("ticket #%d was resolved by %s, want the agent (%s)", n, e.Actor, agentRef)
				}
			}
		}
		if resolves != 1 {
			t.Errorf("ticket #%d was resolved %d times, want once", n, resolves)
		}
	}
	if st := rowOf(t, closed).Status; st != ticket.StatusClosed {
		t.Errorf("the closed ticket #%d is %s after the bulk action, want closed", closed, st)
	}
}
