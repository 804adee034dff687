package systemtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/config"
)

// imapProxy sits between the poller and Dovecot: it counts the bytes the
// server sends (what crossed the poller's connection) and can rewrite the
// server's response lines (never literal data), to play a server that lies
// about message sizes.
type imapProxy struct {
	ln         net.Listener
	target     string
	fromServer atomic.Int64
	mu         sync.Mutex
	rewrite    func(line string) string
}

func startIMAPProxy(t *testing.T, host string, port int) *imapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &imapProxy{ln: ln, target: net.JoinHostPort(host, strconv.Itoa(port))}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

func (p *imapProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *imapProxy) setRewrite(f func(string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\}\r\n$`)

func (p *imapProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		_, _ = io.Copy(server, client)
		_ = server.Close()
	}()
	r := bufio.NewReader(countingReader{server, &p.fromServer})
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		p.mu.Lock()
		f := p.rewrite
		p.mu.Unlock()
		if f != nil {
			line = f(line)
		}
		if _, err := io.WriteString(client, line); err != nil {
			return
		}
		if m := literalAtEnd.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if _, err := io.CopyN(client, r, n); err != nil {
				return
			}
		}
	}
}

var sizeItem = regexp.MustCompile(` ?RFC822\.SIZE \d+`)

// TestMailSizeIsBoundedWhenTheServerLies: a server that reports too small an
// RFC822.SIZE, or none, still cannot make the poller read a message whole:
// the body is fetched as a range of mail_max_message_bytes + 1, and a range
// that comes back full is quarantined as oversized (headers and the start
// of the body, truncated, not releasable).
func TestMailSizeIsBoundedWhenTheServerLies(t *testing.T) {
	const limit = 1 << 20
	var conn *imapProxy
	r := startMailRig(t, func(c *config.Config) {
		c.MailMaxMessageBytes = limit
		conn = startIMAPProxy(t, c.Mailboxes[0].Host, c.Mailboxes[0].Port)
		c.Mailboxes[0].Port = conn.port()
	})
	stamp := time.Now().UnixNano()
	line := "scanner: paper jam at tray 2, sensor S4 reports a sheet that is not there\n"
	for _, c := range []struct {
		name, says string
		rewrite    func(string) string
	}{
		{"too small a size", "(the server reported 1,000)", func(l string) string { return sizeItem.ReplaceAllString(l, " RFC822.SIZE 1000") }},
		{"no size", "(the server reported no size)", func(l string) string { return sizeItem.ReplaceAllString(l, "") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn.setRewrite(c.rewrite)
			before := conn.fromServer.Load()
			// Two at once, so the poller may also fetch them in one
			// command (as messages it believes small).
			var ids []string
			for _, part := range []string{"a", "b"} {
				id := fmt.Sprintf("liar.%d.%d.%s@customer.example", stamp, len(c.says), part)
				ids = append(ids, id)
				r.deliver(t, message(mailHeaders{"From": "sam@customer.example", "To": r.mailbox.Address, "Subject": "Scanner log " + c.name,
					"Message-ID": "<" + id + ">"}, "The log:\n"+strings.Repeat(line, 8*limit/len(line))))
			}
			want := fmt.Sprintf("message of at least 1,048,577 bytes %s exceeds mail_max_message_bytes 1,048,576; kept headers and the first 64 KiB", c.says)
			for _, id := range ids {
				q := listedInQuarantine(t, id, 30*time.Second)
				if q.Reason != "too_large" || !q.Truncated || q.Detail != want || q.StoredBytes > 128<<10 {
					t.Errorf("quarantine entry %+v, want too_large, truncated, %q", q, want)
				}
				res := call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/quarantine/%d/release", q.ID), nil)
				if res.status != http.StatusConflict {
					t.Errorf("release of a truncated entry: %d %s", res.status, res.body)
				}
				if _, err := env.store.MailByDedupeKey(context.Background(), "mid:"+id); err == nil {
					t.Error("the truncated message was processed")
				}
			}
			// At most the ranges asked for (limit + 1 per message, and a
			// first 256 KiB + 1 if fetched together) and the protocol around
			// them, for two messages of 8 MB.
			if read := conn.fromServer.Load() - before; read > 2*(limit+1+256<<10)+64<<10 {
				t.Errorf("the poller read %d bytes for two 8 MB messages (limit %d)", read, limit)
			}
		})
	}
}
