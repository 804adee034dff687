package intake

import (
	"bytes"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/store"
)

// TestKeptPrefix: what quarantine keeps of a message it does not store
// whole is a prefix: the header section, then at most 64 KiB of the body; a
// header section beyond its bound is cut there with no body after it.
func TestKeptPrefix(t *testing.T) {
	head := "From: a@example.org\r\nSubject: logs\r\n\r\n"
	body := strings.Repeat("x", KeptBodyBytes+10)
	for _, c := range []struct {
		name, raw string
		want      int
	}{
		{"small message, kept whole", head + "hello\r\n", len(head) + 7},
		{"body cut at its bound", head + body, len(head) + KeptBodyBytes},
		{"LF line ends", "From: a@example.org\n\n" + body, len("From: a@example.org\n\n") + KeptBodyBytes},
		{"huge header section", "X-Junk: " + strings.Repeat("y", KeptHeaderBytes) + "\r\n\r\nbody", KeptHeaderBytes},
		{"no body separator", "From: a@example.org\r\n" + strings.Repeat("z", 100), len("From: a@example.org\r\n") + 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte(c.raw)
			q := store.NewQuarantine{Detail: "too many"}
			kept := keepPrefix(&q, raw)
			if len(kept) != c.want || !bytes.HasPrefix(raw, kept) {
				t.Fatalf("kept %d bytes, want the first %d", len(kept), c.want)
			}
			cut := c.want < len(raw)
			if q.Truncated != cut || cut && (q.Size != int64(len(raw)) || q.Detail != "too many; "+keptNote) || !cut && q.Detail != "too many" {
				t.Errorf("entry %+v after keeping %d of %d bytes", q, len(kept), len(raw))
			}
		})
	}
}
