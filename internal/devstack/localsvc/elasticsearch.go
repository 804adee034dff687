package localsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ESVersion is the Elasticsearch version deploy/local/install.sh installs
// (its ES_VERSION); keep the two in step.
const ESVersion = "8.19.21"

// ESInstallRoot is where deploy/local/install.sh unpacks Elasticsearch.
const ESInstallRoot = "/opt/helpdesk"

// ElasticsearchOptions describe a private single-node Elasticsearch.
//
// Several instances (say dev on 9200 and a test run on a random port) can run
// at once from one installation: each one gets its own configuration
// directory (ES_PATH_CONF), data and logs under its DataDir.
type ElasticsearchOptions struct {
	// Home is the unpacked distribution. Default: $HELPDESK_ES_HOME, else
	// /opt/helpdesk/elasticsearch-<ESVersion>, else the only
	// /opt/helpdesk/elasticsearch-8* directory.
	Home string
	// DataDir holds this instance's config/, data/, logs/ and tmp/. Required.
	DataDir string
	// Host is the address to bind; default 127.0.0.1.
	Host string
	// Port is the HTTP port; default 9200.
	Port int
	// TransportPort is the node-to-node port; 0 picks a free one.
	TransportPort int
	// HeapMB sizes the JVM heap (-Xms and -Xmx); default 512.
	HeapMB int
	// OSUser runs the server; default "helpdesk-es".
	OSUser string
	// JavaHome is the JDK to run on (ES_JAVA_HOME). Default: $ES_JAVA_HOME,
	// else Debian's OpenJDK 17, else 21, else the JDK of `java` on PATH.
	JavaHome string
	// LogFile receives the launcher's and server's console output; default
	// DataDir/../elasticsearch.log. The server's own log files are in
	// DataDir/logs.
	LogFile string
	// StartTimeout bounds the wait for a yellow cluster when ctx has no
	// earlier deadline; default 180 s.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits before killing; default 20 s.
	StopTimeout time.Duration
}

// Elasticsearch is a running private Elasticsearch node.
type Elasticsearch struct {
	opts ElasticsearchOptions
	srv  *server
}

// StartElasticsearch starts Elasticsearch's launcher (bin/elasticsearch) as a
// child process running as o.OSUser and returns once the cluster is yellow.
// The launcher runs the server in a second JVM that exits when the launcher
// does, so both go away with the caller. ctx bounds the startup only; the
// server runs until Stop.
func StartElasticsearch(ctx context.Context, o ElasticsearchOptions) (*Elasticsearch, error) {
	if o.DataDir == "" {
		return nil, errors.New("localsvc: elasticsearch: DataDir is required")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localsvc: elasticsearch: %w", err)
	}
	o.DataDir = dataDir
	if o.Home == "" {
		if o.Home, err = findESHome(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(o.Home, "bin", "elasticsearch")); err != nil {
		return nil, fmt.Errorf("localsvc: elasticsearch: no distribution in %s (run deploy/local/install.sh): %w", o.Home, err)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 9200
	}
	if o.TransportPort == 0 {
		if o.TransportPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if o.HeapMB <= 0 {
		o.HeapMB = 512
	}
	if o.OSUser == "" {
		o.OSUser = "helpdesk-es"
	}
	if o.JavaHome == "" {
		if o.JavaHome, err = findJavaHome(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(o.JavaHome, "bin", "java")); err != nil {
		return nil, fmt.Errorf("localsvc: elasticsearch: JavaHome %s has no bin/java: %w", o.JavaHome, err)
	}
	if o.LogFile == "" {
		o.LogFile = filepath.Join(filepath.Dir(o.DataDir), "elasticsearch.log")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 180 * time.Second
	}
	u, err := lookupOSUser("elasticsearch", o.OSUser)
	if err != nil {
		return nil, err
	}
	if err := checkPortFree("elasticsearch", o.Host, o.Port); err != nil {
		return nil, err
	}
	if err := checkPortFree("elasticsearch transport", o.Host, o.TransportPort); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(o.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("localsvc: elasticsearch: %w", err)
	}
	for _, d := range []string{filepath.Dir(o.DataDir), o.Home, o.JavaHome} {
		if err := grantSearch("elasticsearch", u, d); err != nil {
			return nil, err
		}
	}
	if err := writeESConfig(o); err != nil {
		return nil, err
	}
	if err := ownDir("elasticsearch", u, o.DataDir, 0o750); err != nil {
		return nil, err
	}
	// Config files written or copied by this start belong to the user too
	// (ES also writes its keystore there).
	if err := chownTree("elasticsearch", u, filepath.Join(o.DataDir, "config")); err != nil {
		return nil, err
	}

	cmd := exec.Command(filepath.Join(o.Home, "bin", "elasticsearch"))
	cmd.Dir = o.DataDir
	heap := strconv.Itoa(o.HeapMB) + "m"
	cmd.Env = u.env(
		"ES_JAVA_HOME="+o.JavaHome,
		"ES_PATH_CONF="+filepath.Join(o.DataDir, "config"),
		"ES_TMPDIR="+filepath.Join(o.DataDir, "tmp"),
		"ES_JAVA_OPTS=-Xms"+heap+" -Xmx"+heap,
	)
	cmd.SysProcAttr = u.sysProcAttr()
	e := &Elasticsearch{opts: o}
	e.srv, err = startServer("elasticsearch", cmd, o.LogFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := e.waitReady(ctx); err != nil {
		_ = e.srv.stop(syscall.SIGTERM, 10*time.Second)
		return nil, err
	}
	return e, nil
}

// findESHome locates the distribution install.sh unpacked.
func findESHome() (string, error) {
	if h := os.Getenv("HELPDESK_ES_HOME"); h != "" {
		return h, nil
	}
	def := filepath.Join(ESInstallRoot, "elasticsearch-"+ESVersion)
	if _, err := os.Stat(def); err == nil {
		return def, nil
	}
	found, _ := filepath.Glob(filepath.Join(ESInstallRoot, "elasticsearch-8*"))
	if len(found) == 1 {
		return found[0], nil
	}
	return "", fmt.Errorf("localsvc: elasticsearch: %s not found and %d other 8.x installs in %s (run deploy/local/install.sh or set HELPDESK_ES_HOME)", def, len(found), ESInstallRoot)
}

// findJavaHome picks a JDK that Elasticsearch 8 supports.
func findJavaHome() (string, error) {
	if h := os.Getenv("ES_JAVA_HOME"); h != "" {
		return h, nil
	}
	for _, pattern := range []string{"/usr/lib/jvm/java-17-openjdk-*", "/usr/lib/jvm/java-21-openjdk-*"} {
		found, _ := filepath.Glob(pattern)
		for _, h := range found {
			if _, err := os.Stat(filepath.Join(h, "bin", "java")); err == nil {
				return h, nil
			}
		}
	}
	if j, err := exec.LookPath("java"); err == nil {
		if real, err := filepath.EvalSymlinks(j); err == nil {
			return filepath.Dir(filepath.Dir(real)), nil
		}
	}
	return "", errors.New("localsvc: elasticsearch: no Java found (run deploy/local/install.sh or set ES_JAVA_HOME)")
}

// writeESConfig lays out DataDir: config/ starts as a copy of the
// distribution's config files, and elasticsearch.yml plus a JVM options file
// are rewritten on every start from o.
func writeESConfig(o ElasticsearchOptions) error {
	conf := filepath.Join(o.DataDir, "config")
	for _, d := range []string{conf, filepath.Join(conf, "jvm.options.d"), filepath.Join(o.DataDir, "data"), filepath.Join(o.DataDir, "logs"), filepath.Join(o.DataDir, "tmp")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("localsvc: elasticsearch: %w", err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(o.Home, "config"))
	if err != nil {
		return fmt.Errorf("localsvc: elasticsearch: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == "elasticsearch.yml" || name == "elasticsearch.keystore" || strings.HasSuffix(name, ".example.yml") {
			continue
		}
		dst := filepath.Join(conf, name)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := copyFile(filepath.Join(o.Home, "config", name), dst); err != nil {
			return fmt.Errorf("localsvc: elasticsearch: %w", err)
		}
	}
	// Only settings the integ-test-zip knows: it carries the core, the
	// transport and x-pack core/security modules. Security is explicitly off.
	yml := fmt.Sprintf(`# Written by internal/devstack/localsvc on every start; edits are lost.
cluster.name: helpdesk-local-%[3]d
node.name: helpdesk-local
discovery.type: single-node
network.host: %[1]s
http.port: %[3]d
transport.port: %[4]d
path.data: %[2]s
path.logs: %[5]s
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
`, yamlQuote(o.Host), yamlQuote(filepath.Join(o.DataDir, "data")), o.Port, o.TransportPort, yamlQuote(filepath.Join(o.DataDir, "logs")))
	if err := os.WriteFile(filepath.Join(conf, "elasticsearch.yml"), []byte(yml), 0o640); err != nil {
		return fmt.Errorf("localsvc: elasticsearch: %w", err)
	}
	jvm := fmt.Sprintf("# Written by internal/devstack/localsvc: keep crash files with this instance.\n-XX:HeapDumpPath=%[1]s/logs\n-XX:ErrorFile=%[1]s/logs/hs_err_pid%%p.log\n", o.DataDir)
	if err := os.WriteFile(filepath.Join(conf, "jvm.options.d", "localsvc.options"), []byte(jvm), 0o640); err != nil {
		return fmt.Errorf("localsvc: elasticsearch: %w", err)
	}
	return nil
}

// yamlQuote renders s as a double-quoted YAML scalar.
func yamlQuote(s string) string {
	return strconv.Quote(s)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// waitReady polls the cluster health until it is at least yellow.
func (e *Elasticsearch) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 10 * time.Second}
	healthURL := e.URL() + "/_cluster/health?wait_for_status=yellow&timeout=2s"
	var last string
	for {
		if e.srv.exited() {
			return e.srv.failure("server exited during startup")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
		if err != nil {
			return fmt.Errorf("localsvc: elasticsearch: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return e.srv.failure("not ready on port %d: %v (last attempt: %s)", e.opts.Port, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// URL is the node's HTTP address, e.g. http://127.0.0.1:9200.
//
// The integ-test-zip has no rest-root module, so `GET /` answers 405; use
// e.g. /_cluster/health or /_nodes/_local to probe the node.
func (e *Elasticsearch) URL() string {
	return "http://" + net.JoinHostPort(e.opts.Host, strconv.Itoa(e.opts.Port))
}

// Port is the HTTP port.
func (e *Elasticsearch) Port() int { return e.opts.Port }

// LogFile is where the console output goes; the server's own logs are in
// DataDir/logs.
func (e *Elasticsearch) LogFile() string { return e.opts.LogFile }

// Stop shuts the node down (SIGTERM to the launcher, which stops the server
// JVM and waits for it) and waits for both JVMs to exit; after StopTimeout it
// kills the whole process group. Stop is idempotent.
func (e *Elasticsearch) Stop() error {
	return e.srv.stop(syscall.SIGTERM, e.opts.StopTimeout)
}
