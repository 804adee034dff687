package deploy_test

// These tests stand in for `docker compose config` and `kubectl apply
// --dry-run`, which need engines this project's machines do not run. They load
// the deployment files with the parsers the tools themselves use and check
// what a user would notice: a missing service, an app pointed at the wrong
// host, a port open to the network, a container running as root.
//
// Each check returns the problems it finds; TestChecksCatchBrokenFiles feeds
// the checks deliberately broken inputs to prove they can fail.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/helpdesk/helpdesk/internal/config"
)

const (
	composeFile    = "compose.yaml"
	dockerfilePath = "Dockerfile"
	k8sDir         = "k8s"
)

// Every service a user gets from `docker compose up`.
var wantServices = []string{
	"postgresql", "elasticsearch", "temporal-schema", "temporal", "temporal-ui",
	"migrate", "api", "worker", "intake",
}

// The services that run the helpdesk binary, and the subcommand each runs.
var helpdeskServices = map[string]string{"migrate": "migrate", "api": "api", "worker": "worker", "intake": "intake"}

// ---------------------------------------------------------------------------
// Loading

// loadCompose loads compose.yaml exactly as `docker compose` does (schema
// validation, interpolation, consistency checks, path resolution), with env
// as the only environment so results do not depend on the caller's shell.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := loadComposeContent(t, nil, env)
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	return p
}

// loadComposeContent loads content (compose.yaml's own when nil) as if it
// were deploy/compose.yaml.
func loadComposeContent(t *testing.T, content []byte, env map[string]string) (*types.Project, error) {
	t.Helper()
	return loadComposeProfiles(t, content, env, []string{"*"})
}

// loadComposeProfiles loads with only the given profiles active ("*": all,
// so opt-in services such as the intake are checked too).
func loadComposeProfiles(t *testing.T, content []byte, env map[string]string, profiles []string) (*types.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if content == nil {
		if content, err = os.ReadFile(abs); err != nil {
			t.Fatal(err)
		}
	}
	if env == nil {
		env = map[string]string{}
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs, Content: content}},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		// Everything on: this is the validation users get.
		o.SkipValidation = false
		o.SkipConsistencyCheck = false
		o.SkipInterpolation = false
		o.ResolvePaths = true
		o.Profiles = profiles
	})
}

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func envValue(svc types.ServiceConfig, key string) (string, bool) {
	v, ok := svc.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// ---------------------------------------------------------------------------
// Compose checks

func checkServicesPresent(p *types.Project) []string {
	var problems []string
	for _, name := range wantServices {
		if _, ok := p.Services[name]; !ok {
			problems = append(problems, fmt.Sprintf("service %q is missing", name))
		}
	}
	return problems
}

// checkAppEnvironment: the helpdesk containers reach PostgreSQL,
// Elasticsearch and Temporal by the Compose service names, on the ports those
// services listen on.
func checkAppEnvironment(p *types.Project) []string {
	var problems []string
	for _, name := range []string{"migrate", "api", "worker", "intake"} {
		svc, ok := p.Services[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %q is missing", name))
			continue
		}
		bad := func(format string, args ...any) {
			problems = append(problems, name+": "+fmt.Sprintf(format, args...))
		}

		if raw, ok := envValue(svc, "HELPDESK_DATABASE_URL"); !ok {
			bad("HELPDESK_DATABASE_URL is not set")
		} else if u, err := url.Parse(raw); err != nil {
			bad("HELPDESK_DATABASE_URL %q: %v", raw, err)
		} else {
			if u.Scheme != "postgres" && u.Scheme != "postgresql" {
				bad("HELPDESK_DATABASE_URL scheme %q, want postgres", u.Scheme)
			}
			if u.Hostname() != "postgresql" || u.Port() != "5432" {
				bad("HELPDESK_DATABASE_URL points at %q, want postgresql:5432", u.Host)
			}
			if strings.TrimPrefix(u.Path, "/") == "" {
				bad("HELPDESK_DATABASE_URL names no database")
			}
		}

		if raw, ok := envValue(svc, "HELPDESK_ELASTICSEARCH_URL"); !ok {
			bad("HELPDESK_ELASTICSEARCH_URL is not set")
		} else if u, err := url.Parse(raw); err != nil {
			bad("HELPDESK_ELASTICSEARCH_URL %q: %v", raw, err)
		} else if u.Scheme != "http" || u.Hostname() != "elasticsearch" || u.Port() != "9200" {
			bad("HELPDESK_ELASTICSEARCH_URL is %q, want http://elasticsearch:9200", raw)
		}

		if addr, ok := envValue(svc, "HELPDESK_TEMPORAL_ADDRESS"); !ok {
			bad("HELPDESK_TEMPORAL_ADDRESS is not set")
		} else if host, port, err := net.SplitHostPort(addr); err != nil || host != "temporal" || port != "7233" {
			bad("HELPDESK_TEMPORAL_ADDRESS is %q, want temporal:7233", addr)
		}

		if ns, _ := envValue(svc, "HELPDESK_TEMPORAL_NAMESPACE"); ns != "helpdesk" {
			bad("HELPDESK_TEMPORAL_NAMESPACE is %q, want helpdesk", ns)
		}
		if name == "api" {
			// The binary's default 127.0.0.1 would be unreachable from the
			// published port.
			if addr, _ := envValue(svc, "HELPDESK_HTTP_ADDR"); addr != "0.0.0.0:8080" {
				bad("HELPDESK_HTTP_ADDR is %q, want 0.0.0.0:8080", addr)
			}
		}
	}
	return problems
}

// checkStartupOrder: the stack comes up in an order that works, and every
// wait refers to something Compose can actually observe.
func checkStartupOrder(p *types.Project) []string {
	var problems []string
	want := map[string]map[string]string{
		"temporal-schema": {"postgresql": types.ServiceConditionHealthy},
		"temporal":        {"temporal-schema": types.ServiceConditionCompletedSuccessfully},
		"temporal-ui":     {"temporal": types.ServiceConditionHealthy},
		"migrate":         {"postgresql": types.ServiceConditionHealthy},
		"api": {
			"migrate":       types.ServiceConditionCompletedSuccessfully,
			"temporal":      types.ServiceConditionHealthy,
			"elasticsearch": types.ServiceConditionHealthy,
		},
		"worker": {
			"migrate":       types.ServiceConditionCompletedSuccessfully,
			"temporal":      types.ServiceConditionHealthy,
			"elasticsearch": types.ServiceConditionHealthy,
		},
		"intake": {
			"migrate":       types.ServiceConditionCompletedSuccessfully,
			"temporal":      types.ServiceConditionHealthy,
			"elasticsearch": types.ServiceConditionHealthy,
		},
	}
	for svcName, deps := range want {
		svc, ok := p.Services[svcName]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %q is missing", svcName))
			continue
		}
		for dep, cond := range deps {
			got, ok := svc.DependsOn[dep]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s does not depend on %s", svcName, dep))
			case got.Condition != cond:
				problems = append(problems, fmt.Sprintf("%s waits for %s with condition %q, want %q", svcName, dep, got.Condition, cond))
			}
		}
	}
	// service_healthy on a service without a healthcheck never comes true;
	// service_completed_successfully on a service that restarts never ends.
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				continue // the loader's consistency check reports this
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					problems = append(problems, fmt.Sprintf("%s waits for %s to be healthy, but %s has no healthcheck", svc.Name, dep, dep))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != "no" {
					problems = append(problems, fmt.Sprintf("%s waits for %s to complete, but %s has restart %q", svc.Name, dep, dep, target.Restart))
				}
			}
		}
	}
	if api, ok := p.Services["api"]; ok {
		if hc := api.HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "/readyz") {
			problems = append(problems, "api has no healthcheck on /readyz")
		}
	}
	return problems
}

// checkPortsLoopback: nothing is reachable from other machines.
func checkPortsLoopback(p *types.Project) []string {
	var problems []string
	for _, svc := range p.Services {
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				problems = append(problems, fmt.Sprintf("%s publishes %s->%d on %q, want 127.0.0.1", svc.Name, port.Published, port.Target, port.HostIP))
			}
			if port.Published == "" {
				problems = append(problems, fmt.Sprintf("%s publishes container port %d on a random host port", svc.Name, port.Target))
			}
		}
	}
	// The two ports the README tells users to open.
	want := map[string][2]string{"api": {"8080", "8080"}, "temporal-ui": {"8233", "8080"}}
	for name, pp := range want {
		svc, ok := p.Services[name]
		if !ok {
			continue
		}
		if !slices.ContainsFunc(svc.Ports, func(port types.ServicePortConfig) bool {
			return port.Published == pp[0] && fmt.Sprint(port.Target) == pp[1]
		}) {
			problems = append(problems, fmt.Sprintf("%s does not publish 127.0.0.1:%s->%s", name, pp[0], pp[1]))
		}
	}
	return problems
}

func checkElasticsearch(p *types.Project) []string {
	svc, ok := p.Services["elasticsearch"]
	if !ok {
		return []string{`service "elasticsearch" is missing`}
	}
	var problems []string
	if v, _ := envValue(svc, "xpack.security.enabled"); v != "false" {
		problems = append(problems, fmt.Sprintf("elasticsearch: xpack.security.enabled is %q, want \"false\" (the app speaks plain HTTP)", v))
	}
	if v, _ := envValue(svc, "discovery.type"); v != "single-node" {
		problems = append(problems, fmt.Sprintf("elasticsearch: discovery.type is %q, want single-node", v))
	}
	if v, _ := envValue(svc, "ES_JAVA_OPTS"); !strings.Contains(v, "-Xmx") {
		problems = append(problems, "elasticsearch: ES_JAVA_OPTS sets no heap size (-Xmx)")
	}
	if !strings.HasPrefix(svc.Image, "elasticsearch:8.") {
		problems = append(problems, fmt.Sprintf("elasticsearch image is %q, want elasticsearch:8.x", svc.Image))
	}
	return problems
}

// checkDataVolumes: data survives `docker compose down` / `up`.
func checkDataVolumes(p *types.Project) []string {
	var problems []string
	want := map[string]string{
		"postgresql":    "/var/lib/postgresql/data",
		"elasticsearch": "/usr/share/elasticsearch/data",
	}
	for name, target := range want {
		svc, ok := p.Services[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %q is missing", name))
			continue
		}
		i := slices.IndexFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == target })
		if i < 0 {
			problems = append(problems, fmt.Sprintf("%s keeps %s in the container only", name, target))
			continue
		}
		v := svc.Volumes[i]
		if v.Type != types.VolumeTypeVolume {
			problems = append(problems, fmt.Sprintf("%s mounts %s as %s, want a named volume", name, target, v.Type))
		} else if _, declared := p.Volumes[v.Source]; !declared {
			problems = append(problems, fmt.Sprintf("%s uses volume %q, not declared at top level", name, v.Source))
		}
	}
	return problems
}

// checkTemporal: the server runs on PostgreSQL persistence with the dynamic
// config and schema script this directory ships.
func checkTemporal(p *types.Project) []string {
	var problems []string
	svc, ok := p.Services["temporal"]
	if !ok {
		return []string{`service "temporal" is missing`}
	}
	if !strings.HasPrefix(svc.Image, "temporalio/server:") {
		problems = append(problems, fmt.Sprintf("temporal image is %q, want temporalio/server", svc.Image))
	}
	if db, _ := envValue(svc, "DB"); db != "postgres12" && db != "postgres12_pgx" {
		problems = append(problems, fmt.Sprintf("temporal: DB is %q, want postgres12", db))
	}
	if seeds, _ := envValue(svc, "POSTGRES_SEEDS"); seeds != "postgresql" {
		problems = append(problems, fmt.Sprintf("temporal: POSTGRES_SEEDS is %q, want postgresql", seeds))
	}
	if ip, _ := envValue(svc, "BIND_ON_IP"); ip != "0.0.0.0" {
		problems = append(problems, fmt.Sprintf("temporal: BIND_ON_IP is %q; other containers could not reach it", ip))
	}
	// DYNAMIC_CONFIG_FILE_PATH must name a file that one of the bind mounts
	// brings in from this repository.
	dc, _ := envValue(svc, "DYNAMIC_CONFIG_FILE_PATH")
	found := false
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasPrefix(dc, v.Target+"/") {
			found = true
			hostFile := filepath.Join(v.Source, strings.TrimPrefix(dc, v.Target+"/"))
			if _, err := os.Stat(hostFile); err != nil {
				problems = append(problems, fmt.Sprintf("temporal: dynamic config %s: %v", dc, err))
			}
		}
	}
	if !found {
		problems = append(problems, fmt.Sprintf("temporal: DYNAMIC_CONFIG_FILE_PATH %q is not under any bind mount", dc))
	}

	if schema, ok := p.Services["temporal-schema"]; ok {
		if !strings.HasPrefix(schema.Image, "temporalio/admin-tools:") {
			problems = append(problems, fmt.Sprintf("temporal-schema image is %q, want temporalio/admin-tools", schema.Image))
		}
		if tag(schema.Image) != tag(svc.Image) {
			problems = append(problems, fmt.Sprintf("temporal-schema (%s) and temporal (%s) differ in version", schema.Image, svc.Image))
		}
		for _, v := range schema.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				problems = append(problems, fmt.Sprintf("temporal-schema mounts %s: %v", v.Source, err))
			}
		}
	}
	return problems
}

// checkHelpdeskImage: migrate, api and worker build one image from this
// repository with deploy/Dockerfile and run the right subcommand.
func checkHelpdeskImage(p *types.Project) []string {
	var problems []string
	images := map[string]bool{}
	for name, sub := range helpdeskServices {
		svc, ok := p.Services[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %q is missing", name))
			continue
		}
		images[svc.Image] = true
		if svc.Build == nil {
			problems = append(problems, name+" has no build section")
			continue
		}
		if _, err := os.Stat(filepath.Join(svc.Build.Context, "go.mod")); err != nil {
			problems = append(problems, fmt.Sprintf("%s builds from %s, which is not the repository root: %v", name, svc.Build.Context, err))
		}
		if _, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: Dockerfile: %v", name, err))
		}
		if len(svc.Command) == 0 || svc.Command[0] != sub {
			problems = append(problems, fmt.Sprintf("%s runs %q, want helpdesk %s", name, []string(svc.Command), sub))
		}
		if svc.PullPolicy != types.PullPolicyBuild {
			problems = append(problems, fmt.Sprintf("%s: pull_policy %q would look for the image in a registry", name, svc.PullPolicy))
		}
	}
	if len(images) > 1 {
		problems = append(problems, fmt.Sprintf("helpdesk services use different images: %v", images))
	}
	return problems
}

// checkImageRefs: every image is pinned to a tag and named without a
// registry host (house rule: Docker Hub short names only).
func checkImageRefs(refs map[string]string) []string {
	var problems []string
	for where, ref := range refs {
		if host := registryHost(ref); host != "" {
			problems = append(problems, fmt.Sprintf("%s: image %q names registry host %q", where, ref, host))
		}
		if t := tag(ref); t == "" || t == "latest" {
			problems = append(problems, fmt.Sprintf("%s: image %q is not pinned to a version tag", where, ref))
		}
	}
	return problems
}

func composeImages(p *types.Project) map[string]string {
	refs := map[string]string{}
	for _, svc := range p.Services {
		refs["compose service "+svc.Name] = svc.Image
	}
	return refs
}

// registryHost returns the registry host an image reference names, if any:
// its first path component when that contains a dot or a port, or is
// localhost (the rule Docker itself applies).
func registryHost(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if !found {
		return ""
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return first
	}
	return ""
}

func tag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// ---------------------------------------------------------------------------
// Compose tests

func TestComposeLoadsWithFullValidation(t *testing.T) {
	p := loadCompose(t, nil)
	if p.Name != "helpdesk" {
		t.Errorf("project name %q, want helpdesk", p.Name)
	}
	if _, ok := p.Extensions["x-helpdesk-env"]; !ok {
		t.Error("the shared x-helpdesk-env block is gone")
	}
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, nil)
	report(t, checkServicesPresent(p))
	report(t, checkImageRefs(composeImages(p)))
	if img := p.Services["postgresql"].Image; img != "postgres:16" && !strings.HasPrefix(img, "postgres:16.") {
		t.Errorf("postgresql image %q, want postgres:16", img)
	}
}

// The intake needs mailboxes, so `docker compose up` leaves it out until
// the user opts in with --profile mail.
func TestComposeIntakeIsOptIn(t *testing.T) {
	p, err := loadComposeProfiles(t, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["intake"]; ok {
		t.Error("intake runs without --profile mail")
	}
	p, err = loadComposeProfiles(t, nil, nil, []string{"mail"})
	if err != nil {
		t.Fatal(err)
	}
	if svc, ok := p.Services["intake"]; !ok || len(svc.Command) != 1 || svc.Command[0] != "intake" {
		t.Errorf("with --profile mail: intake service %+v", p.Services["intake"].Command)
	}
}

func TestComposeAppEnvironment(t *testing.T) { report(t, checkAppEnvironment(loadCompose(t, nil))) }
func TestComposeStartupOrder(t *testing.T)   { report(t, checkStartupOrder(loadCompose(t, nil))) }
func TestComposePortsBindLoopback(t *testing.T) {
	report(t, checkPortsLoopback(loadCompose(t, nil)))
}
func TestComposeElasticsearch(t *testing.T) { report(t, checkElasticsearch(loadCompose(t, nil))) }
func TestComposeDataVolumes(t *testing.T)   { report(t, checkDataVolumes(loadCompose(t, nil))) }
func TestComposeTemporal(t *testing.T)      { report(t, checkTemporal(loadCompose(t, nil))) }
func TestComposeHelpdeskImage(t *testing.T) { report(t, checkHelpdeskImage(loadCompose(t, nil))) }

// A password set once (shell or deploy/.env) reaches every place that needs
// it, and the product options can be overridden the same way.
func TestComposeInterpolation(t *testing.T) {
	p := loadCompose(t, map[string]string{
		"POSTGRES_PASSWORD":         "s3cret",
		"HELPDESK_DEFAULT_PRIORITY": "high",
	})
	pw := func(svc, key string) string {
		v, _ := envValue(p.Services[svc], key)
		return v
	}
	for _, c := range []struct{ svc, key string }{
		{"postgresql", "POSTGRES_PASSWORD"},
		{"temporal", "POSTGRES_PWD"},
		{"temporal-schema", "SQL_PASSWORD"},
	} {
		if got := pw(c.svc, c.key); got != "s3cret" {
			t.Errorf("%s %s = %q, want the POSTGRES_PASSWORD given", c.svc, c.key, got)
		}
	}
	for name := range helpdeskServices {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
			continue
		}
		raw := pw(name, "HELPDESK_DATABASE_URL")
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s HELPDESK_DATABASE_URL %q: %v", name, raw, err)
		}
		if got, _ := u.User.Password(); got != "s3cret" {
			t.Errorf("%s HELPDESK_DATABASE_URL password %q, want s3cret", name, got)
		}
		if got := pw(name, "HELPDESK_DEFAULT_PRIORITY"); got != "high" {
			t.Errorf("%s HELPDESK_DEFAULT_PRIORITY = %q, want the override", name, got)
		}
	}
}

// The environment compose.yaml gives the helpdesk containers, and the
// ConfigMap the Kubernetes pods load, pass the binary's own config validation:
// a typo in a product option would otherwise stop every container at start.
func TestDeployEnvironmentPassesConfigValidation(t *testing.T) {
	p := loadCompose(t, nil)
	for name := range helpdeskServices {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
			continue
		}
		var env []string
		for k, v := range p.Services[name].Environment {
			if v != nil {
				env = append(env, k+"="+*v)
			}
		}
		cfg, err := config.Load("", env)
		if err != nil {
			t.Errorf("compose service %s: %v", name, err)
			continue
		}
		if cfg.TemporalRetention.D() < 30*24*time.Hour {
			t.Errorf("compose service %s: Temporal retention %s, want at least 30 days", name, cfg.TemporalRetention)
		}
		if cfg.HTTPAddr != "0.0.0.0:8080" || cfg.TemporalAddress != "temporal:7233" {
			t.Errorf("compose service %s: config resolved to http_addr %q, temporal_address %q", name, cfg.HTTPAddr, cfg.TemporalAddress)
		}
	}

	for _, o := range loadK8s(t) {
		if o.kind() != "ConfigMap" {
			continue
		}
		data, _ := o.doc["data"].(map[string]any)
		var env []string
		for k, v := range data {
			env = append(env, fmt.Sprintf("%s=%v", k, v))
		}
		cfg, err := config.Load("", env)
		if err != nil {
			t.Errorf("ConfigMap/%s: %v", o.name(), err)
		} else if cfg.TemporalRetention.D() < 30*24*time.Hour {
			t.Errorf("ConfigMap/%s: Temporal retention %s, want at least 30 days", o.name(), cfg.TemporalRetention)
		}
	}
}

// ---------------------------------------------------------------------------
// Dockerfile

type dockerStage struct {
	from, name string
	// instructions: upper-cased keyword and its arguments, continuation
	// lines joined.
	instructions [][2]string
}

// parseDockerfile splits a Dockerfile into stages, simply: comments and
// blank lines dropped, backslash continuations joined.
func parseDockerfile(r io.Reader) ([]dockerStage, error) {
	var stages []dockerStage
	var pending strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		full := strings.Join(strings.Fields(pending.String()), " ")
		pending.Reset()
		kw, args, _ := strings.Cut(full, " ")
		kw = strings.ToUpper(kw)
		if kw == "FROM" {
			f := strings.Fields(args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			if len(f) == 0 {
				return nil, errors.New("FROM without an image")
			}
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if kw == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%s before the first FROM", kw)
		}
		cur := &stages[len(stages)-1]
		cur.instructions = append(cur.instructions, [2]string{kw, args})
	}
	return stages, sc.Err()
}

func (s dockerStage) last(kw string) (string, bool) {
	for i := len(s.instructions) - 1; i >= 0; i-- {
		if s.instructions[i][0] == kw {
			return s.instructions[i][1], true
		}
	}
	return "", false
}

func (s dockerStage) all(kw string) []string {
	var out []string
	for _, in := range s.instructions {
		if in[0] == kw {
			out = append(out, in[1])
		}
	}
	return out
}

// checkFinalStageNotRoot: the image's runtime user is set and is not root.
func checkFinalStageNotRoot(stages []dockerStage) []string {
	if len(stages) == 0 {
		return []string{"Dockerfile has no stages"}
	}
	final := stages[len(stages)-1]
	user, ok := final.last("USER")
	if !ok {
		return []string{"final stage sets no USER: the container runs as root"}
	}
	name, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	if name == "root" || name == "0" || name == "" {
		return []string{fmt.Sprintf("final stage runs as USER %q", user)}
	}
	return nil
}

func checkDockerfile(stages []dockerStage) []string {
	problems := checkFinalStageNotRoot(stages)
	if len(stages) < 3 {
		return append(problems, fmt.Sprintf("%d stages, want node, golang and runtime", len(stages)))
	}
	byName := map[string]dockerStage{}
	for _, s := range stages {
		if s.name != "" {
			byName[s.name] = s
		}
	}
	var node, golang *dockerStage
	for i := range stages {
		switch {
		case strings.HasPrefix(stages[i].from, "node:"):
			node = &stages[i]
		case strings.HasPrefix(stages[i].from, "golang:"):
			golang = &stages[i]
		}
	}
	if node == nil {
		problems = append(problems, "no node stage builds the web UI")
	} else {
		runs := strings.Join(node.all("RUN"), "\n")
		if !strings.Contains(runs, "npm ci") || !strings.Contains(runs, "npm run build") {
			problems = append(problems, "node stage does not run `npm ci` and `npm run build`")
		}
	}
	if golang == nil {
		problems = append(problems, "no golang stage builds the binary")
	} else {
		env := strings.Join(golang.all("ENV"), " ")
		if !strings.Contains(env, "GOTOOLCHAIN=go1.27.3") {
			problems = append(problems, "golang stage does not set GOTOOLCHAIN=go1.27.3")
		}
		if !strings.Contains(env, "CGO_ENABLED=0") {
			problems = append(problems, "golang stage does not set CGO_ENABLED=0")
		}
		if !strings.Contains(strings.Join(golang.all("RUN"), "\n"), "./cmd/helpdesk") {
			problems = append(problems, "golang stage does not build ./cmd/helpdesk")
		}
	}
	final := stages[len(stages)-1]
	if ep, _ := final.last("ENTRYPOINT"); !strings.Contains(ep, "helpdesk") {
		problems = append(problems, fmt.Sprintf("final stage ENTRYPOINT is %q, want helpdesk", ep))
	}
	if strings.HasPrefix(final.from, "golang:") || strings.HasPrefix(final.from, "node:") {
		problems = append(problems, fmt.Sprintf("final stage is the build image %s", final.from))
	}
	for _, s := range stages {
		for _, cp := range s.all("COPY") {
			for _, f := range strings.Fields(cp) {
				if from, ok := strings.CutPrefix(f, "--from="); ok {
					if _, defined := byName[from]; !defined {
						problems = append(problems, fmt.Sprintf("COPY --from=%s names no stage", from))
					}
				}
			}
		}
	}
	return problems
}

func readDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatalf("the image users build: %v", err)
	}
	defer f.Close()
	stages, err := parseDockerfile(f)
	if err != nil {
		t.Fatalf("parsing %s: %v", dockerfilePath, err)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	report(t, checkDockerfile(stages))
	refs := map[string]string{}
	for i, s := range stages {
		refs[fmt.Sprintf("Dockerfile stage %d", i)] = s.from
	}
	report(t, checkImageRefs(refs))
}

// What the Dockerfile copies out of the repository must be there, or
// `docker compose up --build` fails at the first step.
func TestDockerfileInputsExist(t *testing.T) {
	for _, p := range []string{"go.mod", "go.sum", "cmd/helpdesk", "web/package.json", "web/package-lock.json"} {
		if _, err := os.Stat(filepath.Join("..", p)); err != nil {
			t.Errorf("deploy/Dockerfile needs %s: %v", p, err)
		}
	}
}

// ---------------------------------------------------------------------------
// Kubernetes manifests

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { s, _ := o.doc["kind"].(string); return s }
func (o k8sObject) name() string {
	md, _ := o.doc["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

// get walks nested maps and lists: get("spec", "template", 0, ...).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	var objs []k8sObject
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				t.Fatalf("%s: invalid YAML: %v", file, err)
			}
			if doc == nil {
				continue
			}
			objs = append(objs, k8sObject{file: filepath.Base(file), doc: doc})
		}
		f.Close()
	}
	return objs
}

func checkK8s(objs []k8sObject) []string {
	var problems []string
	byKey := map[string]k8sObject{}
	for _, o := range objs {
		if v, _ := o.doc["apiVersion"].(string); v == "" || o.kind() == "" || o.name() == "" && o.kind() != "Kustomization" {
			problems = append(problems, fmt.Sprintf("%s: object without apiVersion, kind or metadata.name", o.file))
			continue
		}
		byKey[o.kind()+"/"+o.name()] = o
	}
	want := []string{
		"Deployment/helpdesk-api", "Deployment/helpdesk-worker", "Deployment/helpdesk-intake", "Service/helpdesk-api",
		"Job/helpdesk-migrate", "ConfigMap/helpdesk-config", "Namespace/helpdesk",
	}
	for _, k := range want {
		if _, ok := byKey[k]; !ok {
			problems = append(problems, "missing "+k)
		}
	}

	// Each workload runs the helpdesk image with the right subcommand, as a
	// non-root user, with the shared configuration.
	args := map[string]string{"Deployment/helpdesk-api": "api", "Deployment/helpdesk-worker": "worker",
		"Deployment/helpdesk-intake": "intake", "Job/helpdesk-migrate": "migrate"}
	for key, sub := range args {
		o, ok := byKey[key]
		if !ok {
			continue
		}
		pod := get(o.doc, "spec", "template", "spec")
		c := get(pod, "containers", 0)
		if img, _ := get(c, "image").(string); img != "helpdesk" && !strings.HasPrefix(img, "helpdesk:") {
			problems = append(problems, fmt.Sprintf("%s runs image %q, want helpdesk (set by kustomization images)", key, img))
		}
		if a, _ := get(c, "args", 0).(string); a != sub {
			problems = append(problems, fmt.Sprintf("%s runs %q, want %q", key, a, sub))
		}
		if nonRoot, _ := get(pod, "securityContext", "runAsNonRoot").(bool); !nonRoot {
			problems = append(problems, key+" does not set runAsNonRoot")
		}
		if uid, _ := get(pod, "securityContext", "runAsUser").(int); uid == 0 {
			problems = append(problems, key+" runs as uid 0")
		}
		if cm, _ := get(c, "envFrom", 0, "configMapRef", "name").(string); cm != "helpdesk-config" {
			problems = append(problems, key+" does not load the helpdesk-config ConfigMap")
		}
		if key != "Job/helpdesk-migrate" {
			sel, _ := get(o.doc, "spec", "selector", "matchLabels").(map[string]any)
			labels, _ := get(o.doc, "spec", "template", "metadata", "labels").(map[string]any)
			for k, v := range sel {
				if labels[k] != v {
					problems = append(problems, fmt.Sprintf("%s: selector %s=%v does not match the pod labels", key, k, v))
				}
			}
		}
	}
	if o, ok := byKey["Deployment/helpdesk-api"]; ok {
		c := get(o.doc, "spec", "template", "spec", "containers", 0)
		if p, _ := get(c, "readinessProbe", "httpGet", "path").(string); p != "/readyz" {
			problems = append(problems, "api readinessProbe is not GET /readyz")
		}
		if p, _ := get(c, "livenessProbe", "httpGet", "path").(string); p != "/healthz" {
			problems = append(problems, "api livenessProbe is not GET /healthz")
		}
		if port, _ := get(c, "ports", 0, "containerPort").(int); port != 8080 {
			problems = append(problems, fmt.Sprintf("api containerPort %d, want 8080", port))
		}
		if svc, ok := byKey["Service/helpdesk-api"]; ok {
			sel, _ := get(svc.doc, "spec", "selector").(map[string]any)
			labels, _ := get(o.doc, "spec", "template", "metadata", "labels").(map[string]any)
			if len(sel) == 0 {
				problems = append(problems, "Service/helpdesk-api selects no pods")
			}
			for k, v := range sel {
				if labels[k] != v {
					problems = append(problems, fmt.Sprintf("Service/helpdesk-api selector %s=%v matches no api pod", k, v))
				}
			}
			target := get(svc.doc, "spec", "ports", 0, "targetPort")
			if target != "http" && target != 8080 {
				problems = append(problems, fmt.Sprintf("Service/helpdesk-api targetPort %v, want http", target))
			}
		}
	}
	if o, ok := byKey["ConfigMap/helpdesk-config"]; ok {
		for _, k := range []string{"HELPDESK_ELASTICSEARCH_URL", "HELPDESK_TEMPORAL_ADDRESS", "HELPDESK_TEMPORAL_NAMESPACE", "HELPDESK_HTTP_ADDR"} {
			if v, _ := get(o.doc, "data", k).(string); v == "" {
				problems = append(problems, "ConfigMap/helpdesk-config lacks "+k)
			}
		}
	}
	return problems
}

func TestKubernetesManifests(t *testing.T) {
	objs := loadK8s(t)
	report(t, checkK8s(objs))

	// Every file is in the kustomization and every resource it lists exists.
	var kust *k8sObject
	for i := range objs {
		if objs[i].kind() == "Kustomization" {
			kust = &objs[i]
		}
	}
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	listed := map[string]bool{}
	res, _ := kust.doc["resources"].([]any)
	for _, r := range res {
		s, _ := r.(string)
		listed[s] = true
		if _, err := os.Stat(filepath.Join(k8sDir, s)); err != nil {
			t.Errorf("kustomization lists %s: %v", s, err)
		}
	}
	for _, o := range objs {
		if o.file != "kustomization.yaml" && !listed[o.file] {
			t.Errorf("%s is not listed in kustomization.yaml", o.file)
		}
	}
	refs := map[string]string{}
	imgs, _ := kust.doc["images"].([]any)
	for i, img := range imgs {
		name, _ := get(img, "name").(string)
		newName, _ := get(img, "newName").(string)
		newTag, _ := get(img, "newTag").(string)
		if newName == "" {
			newName = name
		}
		refs[fmt.Sprintf("kustomization image %d", i)] = newName + ":" + newTag
	}
	report(t, checkImageRefs(refs))
}

// ---------------------------------------------------------------------------
// The checks can fail

func TestChecksCatchBrokenFiles(t *testing.T) {
	expectProblem := func(t *testing.T, what string, problems []string, want string) {
		t.Helper()
		for _, p := range problems {
			if strings.Contains(p, want) {
				return
			}
		}
		t.Errorf("%s: no problem mentioning %q reported; got %q", what, want, problems)
	}

	t.Run("compose", func(t *testing.T) {
		p := loadCompose(t, nil)
		if problems := checkServicesPresent(p); len(problems) > 0 {
			t.Fatalf("compose.yaml itself is broken: %q", problems)
		}
		delete(p.Services, "worker")
		expectProblem(t, "service removed", checkServicesPresent(p), `"worker" is missing`)

		p = loadCompose(t, nil)
		api := p.Services["api"]
		api.Ports = slices.Clone(api.Ports)
		api.Ports[0].HostIP = ""
		p.Services["api"] = api
		expectProblem(t, "port on all interfaces", checkPortsLoopback(p), "want 127.0.0.1")

		p = loadCompose(t, nil)
		worker := p.Services["worker"]
		worker.Environment = maps.Clone(worker.Environment)
		localhost := "localhost:7233"
		worker.Environment["HELPDESK_TEMPORAL_ADDRESS"] = &localhost
		p.Services["worker"] = worker
		expectProblem(t, "worker pointed at localhost", checkAppEnvironment(p), "HELPDESK_TEMPORAL_ADDRESS")

		p = loadCompose(t, nil)
		api = p.Services["api"]
		api.DependsOn = types.DependsOnConfig{"migrate": {Condition: types.ServiceConditionStarted}}
		p.Services["api"] = api
		expectProblem(t, "api not waiting for migrate", checkStartupOrder(p), "api waits for migrate")

		p = loadCompose(t, nil)
		es := p.Services["elasticsearch"]
		es.Environment = maps.Clone(es.Environment)
		delete(es.Environment, "xpack.security.enabled")
		es.HealthCheck = nil
		p.Services["elasticsearch"] = es
		expectProblem(t, "security left on", checkElasticsearch(p), "xpack.security.enabled")
		expectProblem(t, "healthcheck removed", checkStartupOrder(p), "elasticsearch has no healthcheck")

		expectProblem(t, "registry host", checkImageRefs(map[string]string{"x": "registry.example.com/elasticsearch:8.19.0"}), "registry host")
		expectProblem(t, "unpinned", checkImageRefs(map[string]string{"x": "postgres"}), "not pinned")
	})

	t.Run("compose schema", func(t *testing.T) {
		orig, err := os.ReadFile(composeFile)
		if err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(string(orig), "condition: service_completed_successfully", "condition: service_finished", 1)
		if bad == string(orig) {
			t.Fatal("compose.yaml has no service_completed_successfully condition to break")
		}
		if _, err := loadComposeContent(t, []byte(bad), nil); err == nil {
			t.Error("an invalid depends_on condition loaded without error: schema validation is off")
		}
		bad = strings.Replace(string(orig), "\n  api:\n", "\n  api:\n    no_such_key: 1\n", 1)
		if _, err := loadComposeContent(t, []byte(bad), nil); err == nil {
			t.Error("an unknown service key loaded without error: schema validation is off")
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		root := "FROM node:24 AS web\nRUN npm ci && npm run build\n" +
			"FROM golang:1.26 AS build\nENV GOTOOLCHAIN=go1.27.3 CGO_ENABLED=0\nRUN go build ./cmd/helpdesk\n" +
			"FROM debian:trixie-slim\nCOPY --from=build /out/helpdesk /usr/local/bin/\n"
		for _, tail := range []string{"ENTRYPOINT [\"helpdesk\"]\n", "USER root\nENTRYPOINT [\"helpdesk\"]\n", "USER 0:0\n"} {
			stages, err := parseDockerfile(strings.NewReader(root + tail))
			if err != nil {
				t.Fatal(err)
			}
			if len(checkFinalStageNotRoot(stages)) == 0 {
				t.Errorf("final stage %q passed as non-root", tail)
			}
		}
		stages, err := parseDockerfile(strings.NewReader(root + "USER 10001\nENTRYPOINT [\"helpdesk\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if problems := checkDockerfile(stages); len(problems) != 0 {
			t.Errorf("a good Dockerfile was rejected: %q", problems)
		}
		stages, _ = parseDockerfile(strings.NewReader(strings.Replace(root, "CGO_ENABLED=0", "", 1) + "USER app\nCOPY --from=nope / /\nENTRYPOINT [\"sh\"]\n"))
		problems := checkDockerfile(stages)
		expectProblem(t, "cgo", problems, "CGO_ENABLED=0")
		expectProblem(t, "unknown stage", problems, "--from=nope")
		expectProblem(t, "entrypoint", problems, "ENTRYPOINT")
	})

	t.Run("kubernetes", func(t *testing.T) {
		objs := loadK8s(t)
		var kept []k8sObject
		for _, o := range objs {
			if o.kind() == "Job" {
				continue
			}
			if o.kind() == "Deployment" && o.name() == "helpdesk-api" {
				// A shallow copy with root and the wrong probe.
				doc := map[string]any{}
				for k, v := range o.doc {
					doc[k] = v
				}
				spec := get(doc, "spec", "template", "spec").(map[string]any)
				pod := map[string]any{}
				for k, v := range spec {
					pod[k] = v
				}
				pod["securityContext"] = map[string]any{"runAsUser": 0}
				doc["spec"] = map[string]any{"template": map[string]any{"spec": pod}}
				o = k8sObject{file: o.file, doc: doc}
			}
			kept = append(kept, o)
		}
		problems := checkK8s(kept)
		expectProblem(t, "job removed", problems, "missing Job/helpdesk-migrate")
		expectProblem(t, "root pod", problems, "runAsNonRoot")
	})
}
