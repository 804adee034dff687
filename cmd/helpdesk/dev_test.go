package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
)

// The test binary doubles as the helpdesk binary so the dev test runs the
// real command as a separate process it can signal.
func TestMain(m *testing.M) {
	if os.Getenv("HELPDESK_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type devProcess struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func startDev(t *testing.T, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Env = append(os.Environ(), append(env, "HELPDESK_TEST_AS_MAIN=1")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, lines: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case p.lines <- s.Text():
			default:
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var seen []string
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case l := <-p.lines:
			seen = append(seen, l)
			if strings.Contains(l, "helpdesk is running") {
				return p
			}
		case err := <-p.done:
			t.Fatalf("helpdesk dev exited early (%v):\n%s", err, strings.Join(seen, "\n"))
		case <-deadline:
			t.Fatalf("helpdesk dev not ready after 5 minutes:\n%s", strings.Join(seen, "\n"))
		}
	}
}

func (p *devProcess) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("helpdesk dev exited with %v after %s", err, sig)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("helpdesk dev did not stop within 90s of %s", sig)
	}
}

// processesUsing lists live processes whose command line mentions dir.
func processesUsing(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		p, err := localsvc.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	return ports
}

// TestDevRunsEverythingAndStopsCleanly is `make dev` as a user sees it: from
// a checkout inside a 0700 directory, everything comes up, a ticket can be
// created, Ctrl-C leaves no PostgreSQL or Java process behind, and a restart
// keeps the data.
func TestDevRunsEverythingAndStopsCleanly(t *testing.T) {
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(home, "src", "helpdesk", ".data")
	const bootstrap = "dev-test-bootstrap-token-0123456789"
	ports := freePorts(t, 7)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	env := []string{
		"HELPDESK_DATA_DIR=" + dataDir,
		"HELPDESK_HTTP_ADDR=" + httpAddr,
		fmt.Sprintf("HELPDESK_TEMPORAL_ADDRESS=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("HELPDESK_DEV_TEMPORAL_UI_PORT=%d", ports[2]),
		fmt.Sprintf("HELPDESK_DEV_POSTGRES_PORT=%d", ports[3]),
		fmt.Sprintf("HELPDESK_DEV_ELASTICSEARCH_PORT=%d", ports[4]),
		fmt.Sprintf("HELPDESK_DEV_IMAP_PORT=%d", ports[5]),
		fmt.Sprintf("HELPDESK_DEV_SMTP_PORT=%d", ports[6]),
		"HELPDESK_DATABASE_URL=", "HELPDESK_ELASTICSEARCH_URL=",
		"HELPDESK_BOOTSTRAP_TOKEN=" + bootstrap,
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	post := func() (int64, string) {
		req, _ := http.NewRequest("POST", "http://"+httpAddr+"/api/v1/tickets",
			strings.NewReader(`{"subject":"Printer on fire","description":"3rd floor"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+bootstrap)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST %d: %s", res.StatusCode, body)
		}
		var tk struct {
			ID      int64  `json:"id"`
			Subject string `json:"subject"`
		}
		_ = json.Unmarshal(body, &tk)
		return tk.ID, tk.Subject
	}

	dev := startDev(t, env)
	id, _ := post()
	// Mail to the dev inbox becomes the next ticket.
	mailed := sendDevMail(t, fmt.Sprintf("127.0.0.1:%d", ports[6]), hc, httpAddr, bootstrap)
	if mailed != id+1 {
		t.Errorf("the mailed ticket is #%d, want #%d", mailed, id+1)
	}
	// ... and its acknowledgement reaches the sender's dev mailbox.
	waitForMail(t, fmt.Sprintf("127.0.0.1:%d", ports[5]), "rae@customer.example", fmt.Sprintf("[#%d]", mailed))
	// The demo agent answers by mail, logged in to the dev SMTP listener as
	// their From address (docs/email.md): the dev inbox trusts the
	// listener's Authentication-Results, so the reply is the agent's and
	// goes on to the requester.
	agentReply := fmt.Sprintf("From: Alex Agent <agent@example.com>\r\nTo: support@helpdesk.local\r\nSubject: Re: [#%d] your screen\r\n"+
		"Message-ID: <%d.agent@example.com>\r\n\r\nPlease update the display driver.\r\n", mailed, time.Now().UnixNano())
	sendSMTP(t, fmt.Sprintf("127.0.0.1:%d", ports[6]), sasl.NewPlainClient("", "agent@example.com", "helpdesk"),
		"agent@example.com", agentReply)
	waitForMail(t, fmt.Sprintf("127.0.0.1:%d", ports[5]), "rae@customer.example", fmt.Sprintf("[#%d] Re:", mailed))
	// The demo users are seeded: the requester signs in with the demo password.
	login, err := hc.Post("http://"+httpAddr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"requester@example.com","password":"helpdesk"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != http.StatusOK {
		t.Errorf("demo requester sign-in: %d", login.StatusCode)
	}
	// The first admin of an installation comes from the command line.
	create := exec.Command(os.Args[0], "users", "create", "--email", "First.Admin@Example.com", "--name", "First Admin",
		"--role", "admin", "--password-stdin")
	create.Env = append(os.Environ(), "HELPDESK_TEST_AS_MAIN=1",
		fmt.Sprintf("HELPDESK_DATABASE_URL=postgres://helpdesk@127.0.0.1:%d/helpdesk?sslmode=disable", ports[3]))
	create.Stdin = strings.NewReader("a long admin password\n")
	if out, err := create.CombinedOutput(); err != nil || !strings.Contains(string(out), "first.admin@example.com (admin)") {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	login, err = hc.Post("http://"+httpAddr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"first.admin@example.com","password":"a long admin password"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != http.StatusOK {
		t.Errorf("sign-in of the admin made by users create: %d", login.StatusCode)
	}
	// The search index is rebuilt from PostgreSQL while dev serves; the
	// first ticket is still found by its words afterwards.
	reindex := exec.Command(os.Args[0], "reindex")
	reindex.Env = append(os.Environ(), "HELPDESK_TEST_AS_MAIN=1", "HELPDESK_CONFIG=",
		fmt.Sprintf("HELPDESK_DATABASE_URL=postgres://helpdesk@127.0.0.1:%d/helpdesk?sslmode=disable", ports[3]),
		fmt.Sprintf("HELPDESK_ELASTICSEARCH_URL=http://127.0.0.1:%d", ports[4]))
	if out, err := reindex.CombinedOutput(); err != nil || !strings.Contains(string(out), "tickets now points at tickets-v2") ||
		!strings.Contains(string(out), "deleted tickets-v1") {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	found, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/tickets/search?q=fire", nil)
	found.Header.Set("Authorization", "Bearer "+bootstrap)
	res, err := hc.Do(found)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), fmt.Sprintf(`"id":%d,`, id)) {
		t.Errorf("search for the first ticket after the reindex: %d %s", res.StatusCode, body)
	}
	res, err = hc.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[2]))
	if err != nil {
		t.Fatalf("Temporal Web UI: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("Temporal Web UI answered %d", res.StatusCode)
	}
	dev.stop(t, syscall.SIGINT)
	if left := processesUsing(dataDir); len(left) > 0 {
		t.Fatalf("processes left running after Ctrl-C:\n%s", strings.Join(left, "\n"))
	}

	dev = startDev(t, env)
	get, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/tickets/%d", httpAddr, id), nil)
	get.Header.Set("Authorization", "Bearer "+bootstrap)
	res, err = hc.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("ticket %d after restart: %d", id, res.StatusCode)
	}
	// Nothing was processed twice across the restart.
	if next, _ := post(); next != id+2 {
		t.Errorf("after restart the next ticket is #%d, want #%d", next, id+2)
	}
	dev.stop(t, syscall.SIGTERM)
	if left := processesUsing(dataDir); len(left) > 0 {
		t.Fatalf("processes left running after SIGTERM:\n%s", strings.Join(left, "\n"))
	}
}

// sendDevMail sends a message over SMTP to the dev inbox, as any mail client
// would, and waits for the ticket it becomes; it returns the ticket's number.
func sendDevMail(t *testing.T, smtpAddr string, hc *http.Client, httpAddr, token string) int64 {
	t.Helper()
	subject := fmt.Sprintf("Mailed to the dev inbox %d", time.Now().UnixNano())
	msg := "From: Rae Requester <rae@customer.example>\r\nTo: support@helpdesk.local\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) + "@customer.example>\r\n\r\nMy screen flickers.\r\n"
	// Plain SMTP on loopback, as a mail client pointed at the dev inbox sends.
	sendSMTP(t, smtpAddr, nil, "rae@customer.example", msg)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/tickets?limit=10", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Items []struct {
				ID      int64  `json:"id"`
				Subject string `json:"subject"`
				Channel string `json:"channel"`
			} `json:"items"`
		}
		_ = json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		for _, tk := range list.Items {
			if tk.Subject == subject {
				if tk.Channel != "email" {
					t.Errorf("mailed ticket has channel %q", tk.Channel)
				}
				return tk.ID
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no ticket %q within 60 s of sending the mail", subject)
	return 0
}

// sendSMTP sends msg to the dev inbox, authenticating with auth when set.
func sendSMTP(t *testing.T, smtpAddr string, auth sasl.Client, from, msg string) {
	t.Helper()
	c, err := smtp.Dial(smtpAddr)
	if err != nil {
		t.Fatalf("SMTP to the dev inbox: %v", err)
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			t.Fatalf("SMTP AUTH to the dev inbox: %v", err)
		}
	}
	if err := c.SendMail(from, []string{"support@helpdesk.local"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP to the dev inbox: %v", err)
	}
	_ = c.Quit()
}

// waitForMail waits until address's dev mailbox holds a message whose
// subject contains want.
func waitForMail(t *testing.T, imapAddr, address, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(address, "helpdesk").Wait(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err == nil && sel.NumMessages > 0 {
			var set imap.SeqSet
			set.AddRange(1, sel.NumMessages)
			msgs, _ := c.Fetch(set, &imap.FetchOptions{Envelope: true}).Collect()
			for _, m := range msgs {
				if m.Envelope != nil && strings.Contains(m.Envelope.Subject, want) {
					c.Close()
					return
				}
			}
		}
		c.Close()
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no mail %q for %s within 60 s", want, address)
}
