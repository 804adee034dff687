package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Concurrent appends through the group-commit writer keep one valid chain
// and every caller gets its own stored row back.
func TestWriterGroupCommitKeepsChain(t *testing.T) {
	ctx := context.Background()
	l := New(newDB(t).pool)
	w := l.NewWriter()
	var wg sync.WaitGroup
	ids := make(chan int64, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := w.Append(ctx, Entry{Actor: "writer@example.com", Action: "ticket.read", Object: fmt.Sprintf("ticket:%d", i),
				Result: ResultAllowed, Detail: map[string]any{"i": i}})
			if err != nil {
				t.Error(err)
				return
			}
			if e.ID == 0 || len(e.Hash) == 0 || e.Object != fmt.Sprintf("ticket:%d", i) {
				t.Errorf("entry %d came back as %+v", i, e)
			}
			ids <- e.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d returned twice", id)
		}
		seen[id] = true
	}
	res, err := l.Verify(ctx)
	if err != nil || !res.OK {
		t.Fatalf("chain after concurrent writer appends: %+v %v", res, err)
	}
	// A bad entry fails alone.
	if _, err := w.Append(ctx, Entry{Actor: "x", Action: "y", Result: "maybe"}); err == nil {
		t.Error("invalid result accepted")
	}
	// After Close, Append refuses instead of hanging or panicking.
	w.Close()
	w.Close()
	if _, err := w.Append(ctx, Entry{Actor: "x", Action: "y", Result: ResultAllowed}); err == nil {
		t.Error("append after close accepted")
	}
}
