package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/decompress/decompresstest"
	"github.com/helpdesk/helpdesk/internal/netcount"
)

// These tests run the API without its services: every request here is
// answered before a handler needs PostgreSQL, Temporal or Elasticsearch,
// or reaches a route the test adds.

// serveTest starts the API with cfg; routes adds test routes first.
func serveTest(t *testing.T, cfg config.Config, routes func(s *Server)) (string, *netcount.Listener) {
	t.Helper()
	s := New(Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if routes != nil {
		routes(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &netcount.Listener{Listener: ln}
	go func() { _ = s.Serve(cl) }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return ln.Addr().String(), cl
}

// rawExchange sends head, then streams body from a goroutine while it
// reads the answer, as a client that keeps sending would. It returns the
// answer and what the body writer managed to send.
func rawExchange(t *testing.T, addr, head string, body func(io.Writer) error) (*http.Response, []byte, <-chan int64) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	sent := make(chan int64, 1)
	go func() {
		cw := &countWriter{w: conn}
		_ = body(cw)
		sent <- cw.n
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang fails, it does not block the suite
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v (the client must see the answer, not a reset)", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return res, b, sent
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// zeros writes n zero bytes in 32 KiB writes.
func zeros(n int) func(io.Writer) error {
	return func(w io.Writer) error {
		chunk := make([]byte, 32<<10)
		for left := n; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				return err
			}
		}
		return nil
	}
}

// chunkedZeros writes n zero bytes as a chunked body.
func chunkedZeros(n int) func(io.Writer) error {
	return func(w io.Writer) error {
		chunk := make([]byte, 32<<10)
		for left := n; left > 0; left -= len(chunk) {
			k := min(left, len(chunk))
			if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", k, chunk[:k]); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, "0\r\n\r\n")
		return err
	}
}

func decodeProblem(t *testing.T, res *http.Response, body []byte) Problem {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json (%s)", ct, body)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("answer is not a problem: %v: %s", err, body)
	}
	return p
}

// An anonymous 10 MiB body to the sign-in route is refused with 413 after
// at most the 64 KiB anonymous limit was read, whether its length is
// announced or it comes chunked; the client reads the 413 although it is
// still sending.
func TestAnonymousOversizedBodyRefusedBeforeItIsRead(t *testing.T) {
	const size = 10 << 20
	// What the server may read: the limit, the headers and one read buffer
	// of slack, and what it drains after answering so that the client sees
	// the 413 (lingerBytes).
	const most = anonymousBodyLimit + 64<<10 + lingerBytes
	for _, c := range []struct {
		name, head string
		body       func(io.Writer) error
	}{
		{"content-length", fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size), zeros(size)},
		{"chunked", "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedZeros(size)},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, counted := serveTest(t, config.Default(), nil)
			res, body, sent := rawExchange(t, addr, c.head, c.body)
			p := decodeProblem(t, res, body)
			if res.StatusCode != http.StatusRequestEntityTooLarge || p.Type != typeTooLarge || !strings.Contains(p.Detail, fmt.Sprint(anonymousBodyLimit)) {
				t.Errorf("%d %+v, want 413 naming the %d-byte anonymous limit", res.StatusCode, p, anonymousBodyLimit)
			}
			n := <-sent // the writer ends once the server has closed
			if got := counted.Read(); got > most {
				t.Errorf("the server read %d bytes of a %d-byte body (client sent %d); at most %d expected", got, size, n, most)
			}
		})
	}
}

// A credential (valid or not; it is checked after the body is read) raises
// the limit to max_body_bytes on JSON routes, and only there to the upload
// limit: a 2 MiB JSON body with a bearer token is still 413.
func TestBodyLimitFollowsRouteAndCredential(t *testing.T) {
	cfg := config.Default()
	s := New(Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	upload := attachmentBodyLimit(cfg.MaxAttachmentBytes)
	for _, c := range []struct {
		method, path string
		credential   bool
		want         int
	}{
		{"POST", "/api/v1/auth/login", false, anonymousBodyLimit},
		{"POST", "/api/v1/tickets", true, cfg.MaxBodyBytes},
		{"POST", "/api/v1/tickets/7/attachments", true, upload},
		{"POST", "/API/V1/Tickets/7/Attachments/", true, upload}, // the router ignores case and a trailing slash
		{"POST", "/api/v1/tickets/7/attachments", false, anonymousBodyLimit},
		{"POST", "/api/v1/tickets//attachments", true, cfg.MaxBodyBytes},
		{"POST", "/api/v1/tickets/7/attachments/9", true, cfg.MaxBodyBytes},
		{"GET", "/api/v1/tickets/7/attachments", true, cfg.MaxBodyBytes},
		{"PATCH", "/api/v1/tickets/7", true, cfg.MaxBodyBytes},
	} {
		if got := s.bodyLimit(c.method, c.path, c.credential); got != c.want {
			t.Errorf("%s %s (credential %v): limit %d, want %d", c.method, c.path, c.credential, got, c.want)
		}
	}

	addr, counted := serveTest(t, cfg, nil)
	big := cfg.MaxBodyBytes + 1<<20
	res, body, sent := rawExchange(t, addr, fmt.Sprintf("POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-checked-yet\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", big), zeros(big))
	p := decodeProblem(t, res, body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, "max_body_bytes") {
		t.Errorf("2 MiB JSON with a credential: %d %+v", res.StatusCode, p)
	}
	<-sent
	// Nothing of it is buffered; after the 413 a credentialed caller's
	// connection is drained (read and dropped) for at most twice its
	// route's limit, so that someone who picked too large a file sees the
	// answer instead of a reset. Never the whole of an endless body.
	if got, most := counted.Read(), int64(64<<10)+2*int64(cfg.MaxBodyBytes); got > most {
		t.Errorf("the server read %d bytes of a body whose announced length was over the limit; at most %d expected", got, most)
	}
}

// The bomb: 512 MiB of zeros compressed twice, about a kilobyte,
// sent anonymously to the sign-in route. It is refused with 415 before
// anything decompresses it: the server allocates nowhere near 512 MiB.
func TestDecompressionBombRefusedUndecoded(t *testing.T) {
	bomb := decompresstest.NestedGzipBomb(512 << 20)
	addr, _ := serveTest(t, config.Default(), nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, body, _ := rawExchange(t, addr, fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n", len(bomb)),
		func(w io.Writer) error { _, err := w.Write(bomb); return err })
	runtime.ReadMemStats(&after)
	p := decodeProblem(t, res, body)
	if res.StatusCode != http.StatusUnsupportedMediaType || p.Type != typeUnsupported {
		t.Errorf("bomb: %d %+v, want 415", res.StatusCode, p)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("the process allocated %d MiB while refusing a %d-byte bomb: it was decompressed", grew>>20, len(bomb))
	}
	// Unknown codings and stacks are refused the same way; identity is no
	// encoding at all.
	for _, enc := range []string{"gzip", "br", "deflate", "compress", "identity, gzip"} {
		res, body, _ := rawExchange(t, addr, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: "+enc+"\r\nContent-Length: 2\r\n\r\n",
			func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err })
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Encoding %s: %d %s", enc, res.StatusCode, body)
		}
	}
}

// A route that opts in to compressed bodies reads them through the capped
// decompressor: the bomb is a 413 after at most the limit was produced,
// and an honest gzip body arrives decoded.
func TestDecodingRouteCapsDecompressedBytes(t *testing.T) {
	addr, _ := serveTest(t, config.Default(), func(s *Server) {
		s.handleWith(fiber.MethodPost, "/test/decode", nil, routeOptions{decodes: true}, func(c *fiber.Ctx) error {
			b, err := s.decodedBody(c)
			if err != nil {
				return err
			}
			return c.SendString(fmt.Sprintf("%d bytes: %.20s", len(b), b))
		})
	})
	bomb := decompresstest.NestedGzipBomb(512 << 20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, body, _ := rawExchange(t, addr, fmt.Sprintf("POST /test/decode HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n", len(bomb)),
		func(w io.Writer) error { _, err := w.Write(bomb); return err })
	runtime.ReadMemStats(&after)
	if p := decodeProblem(t, res, body); res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, fmt.Sprint(anonymousBodyLimit)) {
		t.Errorf("bomb to a decoding route: %d %+v", res.StatusCode, p)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("the process allocated %d MiB decoding a bomb capped at %d bytes", grew>>20, anonymousBodyLimit)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"subject":"compressed"}`))
	_ = zw.Close()
	res, body, _ = rawExchange(t, addr, fmt.Sprintf("POST /test/decode HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n", gz.Len()),
		func(w io.Writer) error { _, err := w.Write(gz.Bytes()); return err })
	if res.StatusCode != http.StatusOK || string(body) != `24 bytes: {"subject":"compress` {
		t.Errorf("gzip body: %d %s", res.StatusCode, body)
	}
}

// A handler still working when request_timeout passes answers 503 with
// Retry-After, never 500; a route declared long has no deadline.
func TestDeadlineAnswers503(t *testing.T) {
	cfg := config.Default()
	cfg.RequestTimeout = config.Duration(200 * time.Millisecond)
	addr, _ := serveTest(t, cfg, func(s *Server) {
		s.handle(fiber.MethodGet, "/test/slow", nil, func(c *fiber.Ctx) error {
			<-c.UserContext().Done() // e.g. a query waiting on a lock
			return fmt.Errorf("store: query: %w", c.UserContext().Err())
		})
		s.handleWith(fiber.MethodGet, "/test/long", nil, routeOptions{long: true}, func(c *fiber.Ctx) error {
			if _, ok := c.UserContext().Deadline(); ok {
				return c.SendString("deadline")
			}
			return c.SendString("none")
		})
	})
	res, err := http.Get("http://" + addr + "/test/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	p := decodeProblem(t, res, body)
	if res.StatusCode != http.StatusServiceUnavailable || p.Type != typeUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("past the deadline: %d Retry-After %q %+v", res.StatusCode, res.Header.Get("Retry-After"), p)
	}
	res, err = http.Get("http://" + addr + "/test/long")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "none" {
		t.Errorf("a long route's context has a deadline: %s", body)
	}
}

// A streamed answer whose client goes away ends its work: the failed write
// cancels the context the work runs under.
func TestStreamEndsWhenClientLeaves(t *testing.T) {
	ended := make(chan error, 1)
	addr, _ := serveTest(t, config.Default(), func(s *Server) {
		s.handleWith(fiber.MethodGet, "/test/stream", nil, routeOptions{long: true}, func(c *fiber.Ctx) error {
			s.streamBody(c, func(ctx context.Context, w io.Writer) error {
				row := bytes.Repeat([]byte("x"), 16<<10)
				for ctx.Err() == nil {
					if _, err := w.Write(row); err != nil {
						break
					}
				}
				ended <- context.Cause(ctx)
				return ctx.Err()
			})
			return nil
		})
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /test/stream HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 64<<10)); err != nil {
		t.Fatalf("reading the start of the stream: %v", err)
	}
	conn.Close()
	select {
	case cause := <-ended:
		if cause == nil || !strings.Contains(cause.Error(), "writing to the client") {
			t.Errorf("the work ended with cause %v, want a failed write", cause)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream kept working after its client left")
	}
}

// Every answer forbids framing and sniffing, including one fasthttp gives
// before any middleware ran (a body over the limit).
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	addr, _ := serveTest(t, config.Default(), nil)
	check := func(what string, h http.Header, csp string) {
		t.Helper()
		if got := h.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: Content-Security-Policy %q, want %q", what, got, csp)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", what, h)
		}
	}
	for path, csp := range map[string]string{"/": uiCSP, "/tickets/42": uiCSP, "/healthz": apiCSP, "/api/v1/nothing": apiCSP} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		check("GET "+path, res.Header, csp)
	}
	res, _, _ := rawExchange(t, addr, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", zeros(1000000))
	check("413 at header time", res.Header, apiCSP)
}

// A client that sends its whole body before it reads (many simple clients
// do) can send it and then read the 413 when it oversteps the limit by less
// than the server drains after answering. Closing at once would reset the
// connection under its feet: its write fails and it gives up. Small socket
// buffers stand for a real network, where the body cannot all sit in
// loopback buffers.
func TestSequentialClientSeesThe413(t *testing.T) {
	small := func(opt int) func(string, string, syscall.RawConn) error {
		return func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) }); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := (&net.ListenConfig{Control: small(syscall.SO_RCVBUF)}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Config: config.Default(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { _ = s.Serve(ln) }()
	defer s.Shutdown(context.Background())
	dialer := &net.Dialer{Control: small(syscall.SO_SNDBUF)}
	size := anonymousBodyLimit + 128<<10
	head := fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	for i := 0; i < 3; i++ {
		conn, err := dialer.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(append([]byte(head), make([]byte, size)...)); err != nil {
			t.Fatalf("attempt %d: sending the body: %v (the server reset the connection instead of draining it)", i, err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("attempt %d: reading the answer: %v", i, err)
		}
		res.Body.Close()
		conn.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("attempt %d: %d, want 413", i, res.StatusCode)
		}
	}
}
