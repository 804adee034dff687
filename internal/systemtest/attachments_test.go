package systemtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/proto"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/workflows"
)

// attachmentOut is an attachment as the API shows it.
type attachmentOut struct {
	ID          int64     `json:"id"`
	TicketID    int64     `json:"ticket_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Internal    bool      `json:"internal"`
	CreatedAt   time.Time `json:"created_at"`
}

// attUpload is one multipart upload: the file part (with the content type
// the client claims) and the optional internal field.
type attUpload struct {
	filename, claimedType string
	content               []byte
	internal              string // "" sends no field
	extra                 map[string]string
}

func (u attUpload) body() (body []byte, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if u.internal != "" {
		_ = w.WriteField("internal", u.internal)
	}
	for k, v := range u.extra {
		_ = w.WriteField(k, v)
	}
	if u.content != nil {
		h := textproto.MIMEHeader{}
		name := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(u.filename)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, name))
		ct := u.claimedType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		part, _ := w.CreatePart(h)
		_, _ = part.Write(u.content)
	}
	_ = w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func attURL(n int64) string { return fmt.Sprintf("/api/v1/tickets/%d/attachments", n) }

// uploadAs sends u as the signed-in s.
func uploadAs(t *testing.T, s *session, n int64, u attUpload, headers ...string) response {
	t.Helper()
	body, ct := u.body()
	return s.do(t, "POST", attURL(n), string(body), append([]string{"Content-Type", ct}, headers...)...)
}

// uploadTo sends u with the admin token to the API at base.
func uploadTo(t *testing.T, base string, n int64, u attUpload, headers ...string) response {
	t.Helper()
	body, ct := u.body()
	return call(t, base, "POST", attURL(n), body, append([]string{"Content-Type", ct}, headers...)...)
}

func mustAttach(t *testing.T, res response) attachmentOut {
	t.Helper()
	if res.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	var a attachmentOut
	res.decode(t, &a)
	return a
}

func attachmentRows(t *testing.T, n int64) int {
	t.Helper()
	var c int
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM attachments WHERE ticket_number = $1`, n).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A tiny valid PNG (1×1, transparent).
var pngBytes = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
	0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82,
}

func TestAttachUploadAndDownload(t *testing.T) {
	ctx := context.Background()
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Screenshot of the error")

	// A PNG the client calls text/plain, under a path with a right-to-left
	// override hiding the real extension.
	res := uploadAs(t, req, n, attUpload{filename: "../../etc/scr\u202egnp.exe", claimedType: "text/plain", content: pngBytes})
	a := mustAttach(t, res)
	sum := sha256.Sum256(pngBytes)
	if a.TicketID != n || a.ContentType != "image/png" || a.Size != int64(len(pngBytes)) || a.SHA256 != hex.EncodeToString(sum[:]) || a.Internal {
		t.Errorf("stored attachment %+v", a)
	}
	if a.Filename != "scrgnp.exe" {
		t.Errorf("filename %q: want the base name without the override character", a.Filename)
	}
	if loc := res.header.Get("Location"); loc != fmt.Sprintf("%s/%d", attURL(n), a.ID) {
		t.Errorf("Location %q", loc)
	}

	// The requester and an agent download the same bytes, typed as sniffed.
	for _, s := range []*session{req, agent} {
		dl := s.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), a.ID), "")
		if dl.status != http.StatusOK || !bytes.Equal(dl.body, pngBytes) {
			t.Fatalf("%s download: %d, %d bytes", s.email, dl.status, len(dl.body))
		}
		if ct := dl.header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("download Content-Type %q", ct)
		}
		if v := dl.header.Get("X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("X-Content-Type-Options %q", v)
		}
		if cd := dl.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=UTF-8''scrgnp.exe") {
			t.Errorf("Content-Disposition %q", cd)
		}
	}

	// An agent adds one too; the list has both, in order.
	b := mustAttach(t, uploadAs(t, agent, n, attUpload{filename: "log ü.txt", content: []byte("line 1\nline 2\n")}))
	if b.ContentType != "text/plain; charset=utf-8" || b.Filename != "log ü.txt" {
		t.Errorf("agent's attachment %+v", b)
	}
	dl := req.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), b.ID), "")
	if cd := dl.header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''log%20%C3%BC.txt") || !strings.Contains(cd, `filename="log _.txt"`) {
		t.Errorf("Content-Disposition of a UTF-8 name: %q", cd)
	}
	var list struct {
		Items []attachmentOut `json:"items"`
	}
	req.do(t, "GET", attURL(n), "").decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != a.ID || list.Items[1].ID != b.ID {
		t.Errorf("list %+v", list.Items)
	}

	// Each upload is an "attachment" event of the ticket's history, which
	// the attachment row points to.
	for _, x := range []attachmentOut{a, b} {
		var kind, actor string
		var id float64
		err := env.store.Pool().QueryRow(ctx, `SELECT e.kind, e.actor, (e.data->>'attachment_id')::float8
			FROM attachments a JOIN ticket_events e ON e.ticket_number = a.ticket_number AND e.seq = a.seq
			WHERE a.id = $1`, x.ID).Scan(&kind, &actor, &id)
		if err != nil || kind != "attachment" || int64(id) != x.ID {
			t.Errorf("event of attachment %d: %q %v (%v)", x.ID, kind, id, err)
		}
	}

	// The bytes never enter workflow history: the Update names the row only.
	it := env.temporal.GetWorkflowHistory(ctx, workflows.TicketWorkflowID(n), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	updates := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := proto.Marshal(ev)
		if bytes.Contains(raw, pngBytes[8:40]) || bytes.Contains(raw, []byte("line 2")) || bytes.Contains(raw, []byte("scrgnp")) {
			t.Fatalf("workflow history event %d (%s) holds attachment content or names", ev.GetEventId(), ev.GetEventType())
		}
		if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED &&
			ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName() == workflows.UpdateAttach {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("%d attach Updates in history, want 2", updates)
	}
}

func TestAttachActiveContentIsServedInert(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	n := createAs(t, req, "Weird page")
	for _, f := range []struct{ name, content, stored string }{
		{"page.html", "<!DOCTYPE html><html><script>alert(document.cookie)</script></html>", "text/html; charset=utf-8"},
		{"image.svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`, "text/xml; charset=utf-8"},
	} {
		a := mustAttach(t, uploadAs(t, req, n, attUpload{filename: f.name, claimedType: "image/png", content: []byte(f.content)}))
		if a.ContentType != f.stored {
			t.Errorf("%s stored as %q, want %q", f.name, a.ContentType, f.stored)
		}
		dl := req.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), a.ID), "")
		if dl.status != http.StatusOK || string(dl.body) != f.content {
			t.Fatalf("download %s: %d %q", f.name, dl.status, dl.body)
		}
		if ct := dl.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%s served as %q", f.name, ct)
		}
		if dl.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(dl.header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("%s headers %v", f.name, dl.header)
		}
	}
}

func TestAttachInternalIsForAgents(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Internal notes")

	res := uploadAs(t, req, n, attUpload{filename: "x.txt", content: []byte("mine"), internal: "true"})
	var p problem
	res.decode(t, &p)
	if res.status != http.StatusForbidden || p.Type != "/problems/forbidden" {
		t.Fatalf("requester's internal upload: %d %s", res.status, res.body)
	}
	if c := attachmentRows(t, n); c != 0 {
		t.Fatalf("a refused upload left %d rows", c)
	}

	note := mustAttach(t, uploadAs(t, agent, n, attUpload{filename: "note.txt", content: []byte("agents only"), internal: "true"}))
	public := mustAttach(t, uploadAs(t, agent, n, attUpload{filename: "reply.txt", content: []byte("for you"), internal: "false"}))
	if !note.Internal || public.Internal {
		t.Fatalf("internal flags: %+v %+v", note, public)
	}
	var list struct {
		Items []attachmentOut `json:"items"`
	}
	req.do(t, "GET", attURL(n), "").decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != public.ID {
		t.Errorf("requester's list %+v", list.Items)
	}
	agent.do(t, "GET", attURL(n), "").decode(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("agent's list %+v", list.Items)
	}
	hidden := req.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), note.ID), "")
	missing := req.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), 987654321), "")
	if hidden.status != http.StatusNotFound || missing.status != http.StatusNotFound {
		t.Fatalf("requester reading the internal attachment: %d, a missing one: %d", hidden.status, missing.status)
	}
	var p1, p2 problem
	hidden.decode(t, &p1)
	missing.decode(t, &p2)
	if p1.Type != p2.Type || p1.Title != p2.Title {
		t.Errorf("a hidden attachment answers differently from a missing one: %+v vs %+v", p1, p2)
	}
	if dl := agent.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n), note.ID), ""); dl.status != http.StatusOK || string(dl.body) != "agents only" {
		t.Errorf("agent reading the internal attachment: %d %q", dl.status, dl.body)
	}
	// The refused read is audited as denied.
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: "requester@example.com", Result: audit.ResultDenied, Action: "attachment.read", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Detail["path"] == fmt.Sprintf("%s/%d", attURL(n), note.ID))
	}
	if !found {
		t.Errorf("denied read of internal attachment %d not in the audit log", note.ID)
	}
}

// An attachment is only ever found under its own ticket.
func TestAttachOtherTicketIsNotFound(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	other := login(t, "requester2@example.com", testPassword)
	n1 := createAs(t, req, "first")
	n2 := createAs(t, req, "second")
	a := mustAttach(t, uploadAs(t, req, n1, attUpload{filename: "a.txt", content: []byte("first ticket's file")}))
	if res := req.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n2), a.ID), ""); res.status != http.StatusNotFound {
		t.Errorf("attachment %d of ticket %d under ticket %d: %d %s", a.ID, n1, n2, res.status, res.body)
	}
	// Another requester sees neither the ticket nor its attachments.
	n3 := createAs(t, other, "someone else's")
	for _, path := range []string{fmt.Sprintf("%s/%d", attURL(n1), a.ID), attURL(n1)} {
		if res := other.do(t, "GET", path, ""); res.status != http.StatusNotFound {
			t.Errorf("other requester GET %s: %d", path, res.status)
		}
	}
	if res := other.do(t, "GET", fmt.Sprintf("%s/%d", attURL(n3), a.ID), ""); res.status != http.StatusNotFound {
		t.Errorf("other requester reading attachment %d via own ticket %d: %d", a.ID, n3, res.status)
	}
	if res := uploadAs(t, other, n1, attUpload{filename: "b.txt", content: []byte("x")}); res.status != http.StatusNotFound {
		t.Errorf("other requester uploading to ticket %d: %d", n1, res.status)
	}
}

func TestAttachBadRequests(t *testing.T) {
	n := createAs(t, login(t, "requester@example.com", testPassword), "bad uploads")
	for _, c := range []struct {
		name   string
		res    response
		status int
		typ    string
	}{
		{"empty file", uploadTo(t, env.baseURL, n, attUpload{filename: "empty.txt", content: []byte{}}), 422, "/problems/validation-error"},
		{"no file part", uploadTo(t, env.baseURL, n, attUpload{internal: "false"}), 422, "/problems/validation-error"},
		{"unknown field", uploadTo(t, env.baseURL, n, attUpload{filename: "a.txt", content: []byte("a"), extra: map[string]string{"owner": "me"}}), 422, "/problems/validation-error"},
		{"bad internal", uploadTo(t, env.baseURL, n, attUpload{filename: "a.txt", content: []byte("a"), internal: "yes"}), 422, "/problems/validation-error"},
		{"JSON body", call(t, env.baseURL, "POST", attURL(n), []byte(`{"file":"x"}`)), 415, "/problems/unsupported-media-type"},
		{"broken multipart", call(t, env.baseURL, "POST", attURL(n), []byte("--b\r\nnonsense"), "Content-Type", "multipart/form-data; boundary=b"), 400, "/problems/malformed-request"},
	} {
		var p problem
		c.res.decode(t, &p)
		if c.res.status != c.status || p.Type != c.typ {
			t.Errorf("%s: %d %s, want %d %s", c.name, c.res.status, c.res.body, c.status, c.typ)
		}
	}
	if c := attachmentRows(t, n); c != 0 {
		t.Errorf("bad uploads left %d rows", c)
	}
}

// Uploads may be larger than max_body_bytes, up to max_attachment_bytes;
// other routes keep max_body_bytes.
func TestAttachSizeLimit(t *testing.T) {
	n := createAs(t, login(t, "requester@example.com", testPassword), "big files")
	maxBytes := env.cfg.MaxAttachmentBytes

	big := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16)
	a := mustAttach(t, uploadTo(t, env.baseURL, n, attUpload{filename: "2mib.bin", content: big}))
	if a.Size != int64(len(big)) {
		t.Errorf("size %d", a.Size)
	}
	exact := mustAttach(t, uploadTo(t, env.baseURL, n, attUpload{filename: "max.bin", content: bytes.Repeat([]byte{'x'}, maxBytes)}))
	if exact.Size != int64(maxBytes) {
		t.Errorf("size %d", exact.Size)
	}
	for _, size := range []int{maxBytes + 1, maxBytes + 2<<20} {
		res := uploadTo(t, env.baseURL, n, attUpload{filename: "too-big.bin", content: bytes.Repeat([]byte{'y'}, size)})
		var p problem
		res.decode(t, &p)
		if res.status != http.StatusRequestEntityTooLarge || p.Type != "/problems/request-too-large" || !strings.Contains(p.Detail, fmt.Sprint(maxBytes)) {
			t.Errorf("%d-byte file: %d %+v", size, res.status, p)
		}
	}
	if c := attachmentRows(t, n); c != 2 {
		t.Errorf("%d rows after two uploads and two refused ones", c)
	}
	// The larger limit is for uploads only.
	res := call(t, env.baseURL, "POST", "/api/v1/tickets", []byte(`{"subject":"`+strings.Repeat("x", 2<<20)+`"}`))
	var p problem
	res.decode(t, &p)
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, fmt.Sprint(env.cfg.MaxBodyBytes)) {
		t.Errorf("2 MiB ticket: %d %+v", res.status, p)
	}
}

// max_attachments_per_ticket and max_attachment_bytes are honoured as
// configured.
func TestAttachCountLimitAndConfiguredSize(t *testing.T) {
	cfg := env.cfg
	cfg.MaxAttachmentsPerTicket = 2
	cfg.MaxAttachmentBytes = 1000
	srv := newAPI(cfg, nil)
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + addr

	n := createAs(t, login(t, "requester@example.com", testPassword), "many files")
	res := uploadTo(t, base, n, attUpload{filename: "big.txt", content: bytes.Repeat([]byte("z"), 1001)})
	var p problem
	res.decode(t, &p)
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, "1000 bytes") {
		t.Errorf("1001-byte file with max_attachment_bytes 1000: %d %+v", res.status, p)
	}
	for i := 0; i < 2; i++ {
		mustAttach(t, uploadTo(t, base, n, attUpload{filename: fmt.Sprintf("f%d.txt", i), content: []byte(fmt.Sprint("file ", i))}))
	}
	res = uploadTo(t, base, n, attUpload{filename: "f3.txt", content: []byte("one too many")})
	p = problem{}
	res.decode(t, &p)
	if res.status != http.StatusConflict || p.Type != "/problems/attachment-limit-reached" {
		t.Errorf("third attachment: %d %s", res.status, res.body)
	}
	if c := attachmentRows(t, n); c != 2 {
		t.Errorf("%d rows, want 2", c)
	}
}

// The same Idempotency-Key with the same file is the same attachment; with
// another file it is refused.
func TestAttachIdempotency(t *testing.T) {
	n := createAs(t, login(t, "requester@example.com", testPassword), "retries")
	key := fmt.Sprintf("att-%d", time.Now().UnixNano())
	u := attUpload{filename: "once.txt", content: []byte("only once")}
	first := mustAttach(t, uploadTo(t, env.baseURL, n, u, "Idempotency-Key", key))
	again := uploadTo(t, env.baseURL, n, u, "Idempotency-Key", key)
	var second attachmentOut
	again.decode(t, &second)
	if again.status != http.StatusOK || second.ID != first.ID {
		t.Errorf("replay: %d %+v, first %+v", again.status, second, first)
	}
	u.content = []byte("something else")
	if res := uploadTo(t, env.baseURL, n, u, "Idempotency-Key", key); res.status != http.StatusUnprocessableEntity {
		t.Errorf("same key, other file: %d %s", res.status, res.body)
	}
	if c := attachmentRows(t, n); c != 1 {
		t.Errorf("%d rows, want 1", c)
	}
}
