package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/handlers/grpcapi"
	"github.com/rolegate/rolegate/policy"
)

// serve runs the API until ctx ends, then drains requests in flight. The log
// goes to out; terminal is where a generated admin token is shown, once (the
// process's stderr): never through the logger, whose stream is collected and
// kept by log pipelines.
func serve(ctx context.Context, cfg Config, out, terminal io.Writer) error {
	log := cfg.logger(out)
	slog.SetDefault(log)

	store, err := cfg.openStore(ctx, cfg.StoreTimeout)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()

	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, MaxEntities: cfg.MaxEntities})
	if err != nil {
		return err
	}
	var notifier changes.Notifier
	if cfg.RedisURL != "" {
		rd, err := adapters.OpenRedis(cfg.RedisURL, cfg.RedisChannel, log)
		if err != nil {
			return err
		}
		defer rd.Close()
		notifier = rd
	}
	syncer := changes.NewSyncer(changes.SyncConfig{Engine: eng, Store: policy.Revisions(store), Notifier: notifier,
		SweepInterval: cfg.SweepInterval, Logger: log})
	svc := policy.NewService(policy.Config{Store: store, Engine: eng, Templates: cfg.templates, Catalog: cfg.catalog,
		Syncer: syncer, Logger: log, Quotas: cfg.Quotas,
		MaxChangeWaiters: cfg.MaxChangeWaiters, MaxChangeWaitersPerEntity: cfg.MaxChangeWaitersPerEntity,
		MaxChangeWaitersPerCaller: cfg.MaxChangeWaitersPerCaller, HistoryRetention: cfg.HistoryRetention})
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); syncer.Run(syncCtx) }()
	defer func() { stopSync(); <-syncDone }()
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); sweepExpired(syncCtx, svc, cfg.ExpirySweep, log) }()
	defer func() { stopSync(); <-sweepDone }()
	historyDone := make(chan struct{})
	go func() {
		defer close(historyDone)
		sweepHistory(syncCtx, svc, cfg.ExpirySweep, cfg.HistoryRetention, log)
	}()
	defer func() { stopSync(); <-historyDone }()

	admin, generated, err := auth.BootstrapAdmin(ctx, store, cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	// Which admin token is in effect, never the token: a configured one and
	// a generated one (whose hash stays in the database) replace each other
	// silently otherwise.
	switch {
	case cfg.AdminToken != "":
		log.Info("admin token in effect", "source", cfg.adminTokenSource,
			"note", "a token generated on an earlier start is not accepted while this one is set")
	case generated != "":
		// Shown once, on the terminal only: only its hash is kept.
		fmt.Fprintf(terminal, "\nGenerated admin token (shown only now; set ROLEGATE_ADMIN_TOKEN_FILE to choose your own):\n\n    %s\n\n", generated)
		log.Info("admin token in effect", "source", "generated",
			"note", "printed once to stderr; only its hash is kept in the database")
	default:
		log.Info("admin token in effect", "source", "generated on an earlier start",
			"note", "only its hash is in the database; set ROLEGATE_ADMIN_TOKEN_FILE to choose one")
	}

	tcfg := auth.TokenConfig{TTL: cfg.Tokens.TTL, KeyEncryptionKey: cfg.Tokens.KeyEncryptionKey, Logger: log}
	if tcfg.KeyEncryptionKey == nil {
		const warning = "no key encryption key: the token signing keys are stored in plain in the database, " +
			"and anyone who reads it (a backup, a replica) can sign tokens; set ROLEGATE_KEY_ENCRYPTION_KEY or ROLEGATE_KEY_ENCRYPTION_KEY_FILE " +
			"(base64 of 32 random bytes: openssl rand -base64 32)"
		// Once, through the log only: a second copy on stderr showed it twice
		// on every development start (the log is on the same terminal).
		log.Warn(warning)
	}
	if cfg.Tokens.JWKSURL != "" {
		keys, err := adapters.JWKS(ctx, cfg.Tokens.JWKSURL, 10*time.Minute)
		if err != nil {
			return err
		}
		tcfg.External = &auth.ExternalIdP{Issuer: cfg.Tokens.Issuer, Audience: cfg.Tokens.Audience,
			Algorithms: cfg.Tokens.Algorithms, UserClaim: cfg.Tokens.UserClaim, EntityClaim: cfg.Tokens.EntityClaim, Keys: keys}
	}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, tcfg)
	if err != nil {
		return fmt.Errorf("tokens: %w", keyError(err))
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// Past the cap, an idle connection is closed to make room; only when
	// every one is busy do new ones wait to be accepted (each held costs a
	// goroutine and its buffers).
	limiter := newConnLimiter(ln, connLimits{Max: cfg.MaxConnections, PerAddress: cfg.MaxConnectionsPerAddress, BusyIdle: cfg.BusyIdleTimeout})
	ln = limiter
	var draining atomic.Bool
	// One rate limiter for the HTTP API and the gRPC port: one budget per
	// caller and per entity, whatever the transport.
	rates := handlers.NewRateLimiter(handlers.RateLimits{Check: cfg.RateLimitCheck, Manage: cfg.RateLimitManage})
	deps := handlers.Deps{Service: svc, Auth: tokens, Tokens: tokens, Logger: log, Pprof: cfg.Pprof, MetricsPublic: cfg.MetricsPublic, MaxBodyMemory: cfg.MaxBodyMemory,
		Limiter:     rates,
		TokenLimits: handlers.TokenLimits{FailureCPU: cfg.Tokens.FailureCPU, FailuresPerAddress: cfg.Tokens.FailuresPerAddress},
		MaxReports:  cfg.MaxReports, MaxReportsPerEntity: cfg.MaxReportsPerEntity, CORSOrigins: cfg.CORSOrigins, Draining: draining.Load}
	if cfg.Metrics {
		deps.Metrics = prometheus.NewRegistry()
	}
	srv := &http.Server{
		Handler:           handlers.NewRouter(deps),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ConnState:         limiter.ConnState,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	var gsrv *grpc.Server
	if cfg.GRPCAddr != "" {
		gln, err := net.Listen("tcp", cfg.GRPCAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("grpc: %w", err)
		}
		// The HTTP port's connection limits, counted apart: at the cap the
		// connection idle the longest is closed to make room; only when all
		// have a call in flight do new ones wait to be accepted.
		gconns := newGRPCConns(gln, connLimits{Max: cfg.MaxConnections, PerAddress: cfg.MaxConnectionsPerAddress, BusyIdle: cfg.BusyIdleTimeout})
		gln = gconns
		gsrv = grpcapi.NewServer(grpcapi.Deps{Service: svc, Auth: tokens, Logger: log, Limiter: rates, Metrics: deps.Metrics,
			Limits: grpcapi.Limits{CallTimeout: cfg.GRPCCallTimeout, StreamIdle: cfg.GRPCStreamIdleTimeout, MaxOpenStreams: cfg.GRPCMaxStreams},
			OnCall: gconns.onCall})
		// Logged before "listening", which tells that the program is up.
		log.Info("grpc listening", "grpc_addr", gln.Addr().String(), "grpc_call_timeout", cfg.GRPCCallTimeout.String(),
			"grpc_stream_idle_timeout", cfg.GRPCStreamIdleTimeout.String(), "grpc_max_streams", cfg.GRPCMaxStreams)
		go func() {
			if err := gsrv.Serve(gln); err != nil {
				errc <- fmt.Errorf("grpc: %w", err)
			}
		}()
		defer gsrv.Stop() // whatever way run ends
	}
	log.Info("listening", "addr", ln.Addr().String(), "database", adapters.RedactURL(cfg.DatabaseURL),
		"metrics", cfg.Metrics, "pprof", cfg.Pprof, "redis", adapters.RedactURL(cfg.RedisURL), "sweep_interval", cfg.SweepInterval.String(),
		"rate_limit_check", cfg.RateLimitCheck, "rate_limit_manage", cfg.RateLimitManage,
		"max_connections", cfg.MaxConnections, "max_connections_per_address", cfg.MaxConnectionsPerAddress, "read_timeout", cfg.ReadTimeout.String(),
		"cors_origins", len(cfg.CORSOrigins), "store_timeout", cfg.StoreTimeout.String(), "drain_period", cfg.DrainPeriod.String())

	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: /readyz 503 and Connection: close on every answer at once,
	// requests still served, so that load balancers and kept-alive clients
	// move away before connections are closed under them.
	draining.Store(true)
	svc.StopWaiting() // long polls of the changes feed answer now
	log.Info("shutting down: draining, requests still served", "drain_period", cfg.DrainPeriod.String())
	start := time.Now()
	select {
	case err := <-errc:
		return err
	case <-time.After(cfg.DrainPeriod):
	}
	log.Info("shutting down: finishing requests in flight", "grace", cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	gdone := make(chan struct{})
	if gsrv != nil {
		// gRPC calls in flight finish within the same grace; then the rest
		// (a stream its client keeps open) are cut.
		go func() {
			gsrv.GracefulStop()
			close(gdone)
		}()
	} else {
		close(gdone)
	}
	err = srv.Shutdown(sctx)
	select {
	case <-gdone:
	case <-sctx.Done():
		gsrv.Stop()
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped", "took", time.Since(start).String())
	return nil
}

// migrate applies the schema migrations and exits.
func migrate(ctx context.Context, cfg Config, out io.Writer) error {
	store, err := cfg.openStore(ctx, 0)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	fmt.Fprintln(out, "schema is up to date")
	return nil
}

// sweepExpired removes expired assignments from the store every interval
// until ctx ends. Checks stop counting an assignment at its expiry on their
// own; the sweep only tidies the store (and records assignment.expire).
func sweepExpired(ctx context.Context, svc *policy.Service, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := svc.SweepExpired(auth.Internal(ctx))
		if err != nil && ctx.Err() == nil {
			log.Warn("expiry sweep", "error", err, "removed", n)
		} else if n > 0 {
			log.Info("expired assignments removed", "removed", n)
		}
	}
}

// sweepHistory removes the history older than retention every interval until
// ctx ends; with retention 0 (history kept forever) it does nothing.
func sweepHistory(ctx context.Context, svc *policy.Service, every, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := svc.SweepHistory(auth.Internal(ctx), retention)
		if err != nil && ctx.Err() == nil {
			log.Warn("history sweep", "error", err, "removed", n)
		} else if n > 0 {
			log.Info("history older than the retention removed", "removed", n, "retention", retention.String())
		}
	}
}
