// Package temporalserver embeds a single-process Temporal server (frontend,
// history, matching and worker services) persisted to SQLite, or to
// PostgreSQL when Options.PostgresURL is set, optionally with the Temporal
// Web UI. `helpdesk dev` and the integration tests use it so that nobody has
// to install a Temporal cluster to run the product locally; the benchmarks
// use its PostgreSQL mode to measure on production-like persistence.
package temporalserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configures the embedded server.
type Options struct {
	// IP the services bind to; always loopback in this project.
	IP string
	// FrontendPort is the gRPC port clients and workers dial (7233 in dev).
	FrontendPort int
	// UIPort serves the Temporal Web UI when non-zero (8233 in dev).
	UIPort int
	// DatabaseFile is the SQLite file; empty keeps everything in memory
	// (tests), which vanishes with the process. Ignored with PostgresURL.
	DatabaseFile string
	// PostgresURL, when set, persists to PostgreSQL instead of SQLite
	// (the server's postgres12_pgx plugin), e.g.
	// postgres://helpdesk@127.0.0.1:5433/temporal?sslmode=disable. The
	// URL's database holds the executions; visibility goes to a second
	// database, PostgresVisibilityDatabase. Missing databases are created
	// (the role needs CREATEDB) and empty ones get this server version's
	// schema; a database with an older schema stops the server at start
	// (upgrade it with temporal-sql-tool update-schema).
	PostgresURL string
	// PostgresVisibilityDatabase defaults to the URL's database name
	// followed by "_visibility".
	PostgresVisibilityDatabase string
	// HistoryShards is the number of history shards, fixed when the
	// persistence is created; default 1.
	HistoryShards int
	// LogLevel of the server's own log: debug, info, warn or error.
	LogLevel string
}

// Server is a running embedded Temporal server.
type Server struct {
	srv     temporal.Server
	ui      *uiserver.Server
	Address string
	UIURL   string
	stopped atomic.Bool
}

var memDBCounter atomic.Int64

// Start builds and starts the server. It returns once the frontend accepts
// connections; namespaces and search attributes are created by the caller
// through the public API (see EnsureNamespace) so the same code works for an
// external cluster.
func Start(o Options) (*Server, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.FrontendPort == 0 {
		p, err := FreePort(o.IP)
		if err != nil {
			return nil, err
		}
		o.FrontendPort = p
	}
	if o.LogLevel == "" {
		o.LogLevel = "error"
	}
	httpPort, err := FreePort(o.IP)
	if err != nil {
		return nil, err
	}
	if o.HistoryShards <= 0 {
		o.HistoryShards = 1
	}
	stores, defaultStore, visibilityStore, err := persistence(o)
	if err != nil {
		return nil, err
	}
	// User namespaces are registered through the API after start (see
	// workflows.EnsureNamespace), so the same code serves an external cluster.
	const clusterName = "active"
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = defaultStore
	conf.Persistence.VisibilityStore = visibilityStore
	conf.Persistence.NumHistoryShards = int32(o.HistoryShards)
	conf.Persistence.DataStores = stores
	addr := net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             addr,
				HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
				ClusterID:              "6d9c3a4e-1f0b-4c55-9d7a-2b8e4f1a7c30", // fixed: the database remembers it
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, name := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == primitives.FrontendService {
			svc.RPC.GRPCPort = o.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else {
			p, err := FreePort(o.IP)
			if err != nil {
				return nil, err
			}
			svc.RPC.GRPCPort = p
		}
		conf.Services[string(name)] = svc
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(o.IP, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = addr

	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: o.LogLevel, Format: "json"}))
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporalserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("temporalserver: claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 1000,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
		// New namespaces and search attributes become usable within a second
		// instead of the default ten.
		dynamicconfig.NamespaceCacheRefreshInterval.Key(): time.Second,
		// Updates are the API's write path; allow plenty in flight per ticket.
		dynamicconfig.WorkflowExecutionMaxInFlightUpdates.Key(): 100,
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("temporalserver: build: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("temporalserver: start: %w", err)
	}
	s := &Server{srv: srv, Address: addr}
	if o.UIPort != 0 {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                o.IP,
			Port:                o.UIPort,
			TemporalGRPCAddress: addr,
			EnableUI:            true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			DisableNewsFetch:    true,
		}))
		go func() {
			// Start blocks until Stop; an error here (port taken) is logged by
			// the caller's health check failing, not fatal to tickets.
			_ = s.ui.Start()
		}()
		s.UIURL = fmt.Sprintf("http://%s", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)))
	}
	return s, nil
}

// persistence returns the data stores and the names of the default and
// visibility stores, with their schemas in place.
func persistence(o Options) (map[string]config.DataStore, string, string, error) {
	if o.PostgresURL != "" {
		return postgresStores(o)
	}
	sqlConf := config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DatabaseFile == "" {
		sqlConf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		sqlConf.DatabaseName = fmt.Sprintf("helpdesk-%d-%d", os.Getpid(), memDBCounter.Add(1))
	} else {
		sqlConf.ConnectAttributes = map[string]string{"mode": "rwc", "_journal_mode": "WAL", "_busy_timeout": "5000"}
		sqlConf.DatabaseName = o.DatabaseFile
	}
	// The SQLite plugin creates the schema of an in-memory database itself;
	// a file needs it once, when the file is new.
	fresh := false
	if o.DatabaseFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.DatabaseFile), 0o755); err != nil {
			return nil, "", "", fmt.Errorf("temporalserver: create data dir: %w", err)
		}
		if _, err := os.Stat(o.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			fresh = true
		}
	}
	if fresh {
		if err := sqliteschema.SetupSchema(&sqlConf); err != nil {
			return nil, "", "", fmt.Errorf("temporalserver: set up schema: %w", err)
		}
	}
	return map[string]config.DataStore{"sqlite": {SQL: &sqlConf}}, "sqlite", "sqlite", nil
}

// Stop shuts the UI and the server down; calling it twice is harmless.
func (s *Server) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

// FreePort asks the kernel for an unused TCP port on ip.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("temporalserver: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
