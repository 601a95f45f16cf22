package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
)

// Operations: Prometheus metrics on /metrics (when Deps.Metrics is set) and
// net/http/pprof under /debug/pprof behind the bearer token (when Deps.Pprof).

// ops holds the HTTP metrics; nil when metrics are off.
type ops struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	checkDur    *prometheus.HistogramVec
	writeDur    *prometheus.HistogramVec
	unavailable *prometheus.CounterVec
}

// newOps registers the service's metrics in d.Metrics; nil without one.
func newOps(d Deps) *ops {
	if d.Metrics == nil {
		return nil
	}
	labels := []string{"route", "method", "status"}
	o := &ops{
		reg: d.Metrics,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rolegate_http_requests_total",
			Help: "HTTP requests answered, by route, method and status class (2xx, 4xx, 5xx)."}, labels),
		checkDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rolegate_check_duration_seconds",
			Help:    "Time to answer a check request (POST .../check and .../check/batch), by route, method and status class.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, labels),
		writeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rolegate_write_duration_seconds",
			Help:    "Time to answer a write request (POST, PUT, PATCH, DELETE other than checks), by route, method and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, labels),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rolegate_unavailable_responses_total",
			Help: "503 answers (storage_unavailable, policy_unavailable, ...), by route and error code: storage or policy could not be reached."},
			[]string{"route", "code"}),
	}
	cs := []prometheus.Collector{o.requests, o.checkDur, o.writeDur, o.unavailable,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	if d.Service != nil {
		cs = append(cs, newEngineCollector(d.Service.Engine()))
		svc := d.Service
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rolegate_change_waiters",
			Help: "Calls of the changes feed waiting for a write (long polls)."}, func() float64 { return float64(svc.ChangeWaiters()) }))
		if sy := d.Service.Syncer(); sy != nil {
			cs = append(cs, newSyncCollector(sy))
		}
	}
	for _, c := range cs {
		if err := d.Metrics.Register(c); err != nil {
			d.Logger.Warn("metrics: collector not registered", "error", err)
		}
	}
	return o
}

// register adds /metrics and, when asked, /debug/pprof.
func (o *ops) register(r *gin.Engine, d Deps) {
	if o != nil {
		h := promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
			ErrorLog:      slogPrinter{d.Logger},
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      o.reg, // promhttp_metric_handler_errors_total
		})
		if d.MetricsPublic {
			r.GET("/metrics", gin.WrapH(h))
		} else {
			r.GET("/metrics", authenticate(d.Auth, writeError), platformOnly, gin.WrapH(h))
		}
	}
	if d.Pprof {
		g := r.Group("/debug/pprof", authenticate(d.Auth, writeError), platformOnly)
		g.GET("/*profile", servePprof)
		g.POST("/*profile", servePprof)
	}
}

// middleware counts and times requests; a no-op without metrics.
func (o *ops) middleware() gin.HandlerFunc {
	if o == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start).Seconds()

		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := methodLabel(c.Request.Method)
		status := c.Writer.Status()
		class := statusClass(status)
		o.requests.WithLabelValues(route, method, class).Inc()
		switch {
		case isCheckRoute(method, route):
			o.checkDur.WithLabelValues(route, method, class).Observe(elapsed)
		case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete:
			o.writeDur.WithLabelValues(route, method, class).Observe(elapsed)
		}
		if status == http.StatusServiceUnavailable {
			o.unavailable.WithLabelValues(route, errorCodeOf(c)).Inc()
		}
	}
}

// isCheckRoute reports whether a route answers checks.
func isCheckRoute(method, route string) bool {
	return method == http.MethodPost && (strings.HasSuffix(route, "/check") || strings.HasSuffix(route, "/check/batch"))
}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	case status >= 200:
		return "2xx"
	}
	return "1xx"
}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// errorCodeOf is the code of the error a request answered with, as classify
// left it on the context, "unknown" when there is none.
func errorCodeOf(c *gin.Context) string {
	if code := c.GetString(errorCodeKey); code != "" {
		return code
	}
	return "unknown"
}

// engineCollector reads the engine's counters at each scrape, so that checks
// pay only the engine's own atomic counts.
type engineCollector struct {
	engine                                                    *engine.Engine
	checks, checkErrs, loaded, loads, reloads, loadErrs, evic *prometheus.Desc
	deltas                                                    *prometheus.Desc
}

func newEngineCollector(e *engine.Engine) *engineCollector {
	return &engineCollector{engine: e,
		checks: prometheus.NewDesc("rolegate_checks_total",
			"Checks answered, by deciding value (allowed, allowed_for_own, denied, not_allowed); a batch counts each of its checks.",
			[]string{"decision"}, nil),
		checkErrs: prometheus.NewDesc("rolegate_check_errors_total",
			"Checks that failed (answered 503 policy_unavailable, never an allow).", nil, nil),
		loaded: prometheus.NewDesc("rolegate_entities_loaded",
			"Entities whose policy is held in memory.", nil, nil),
		loads: prometheus.NewDesc("rolegate_policy_loads_total",
			"Entity policy loads from storage (first uses and reloads).", nil, nil),
		reloads: prometheus.NewDesc("rolegate_policy_reloads_total",
			"Full reloads of an entity's policy held in memory after a change.", nil, nil),
		deltas: prometheus.NewDesc("rolegate_policy_deltas_applied_total",
			"Changes applied to an entity's policy held in memory without reloading it (a write's delta, on this instance or read from the change log).", nil, nil),
		loadErrs: prometheus.NewDesc("rolegate_policy_load_errors_total",
			"Entity policy loads that failed.", nil, nil),
		evic: prometheus.NewDesc("rolegate_entity_evictions_total",
			"Entities dropped from memory as least recently used.", nil, nil),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.checks, c.checkErrs, c.loaded, c.loads, c.reloads, c.deltas, c.loadErrs, c.evic} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.engine.Stats()
	for _, p := range []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed} {
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(st.Checks[p]), string(p))
	}
	ch <- prometheus.MustNewConstMetric(c.checkErrs, prometheus.CounterValue, float64(st.CheckErrors))
	ch <- prometheus.MustNewConstMetric(c.loaded, prometheus.GaugeValue, float64(st.Loaded))
	ch <- prometheus.MustNewConstMetric(c.loads, prometheus.CounterValue, float64(st.Loads))
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(c.deltas, prometheus.CounterValue, float64(st.Deltas))
	ch <- prometheus.MustNewConstMetric(c.loadErrs, prometheus.CounterValue, float64(st.LoadErrors))
	ch <- prometheus.MustNewConstMetric(c.evic, prometheus.CounterValue, float64(st.Evictions))
}

// syncCollector reads the Syncer's counters and lag histogram at each scrape.
type syncCollector struct {
	sync                                                    *changes.Syncer
	published, publishErrs, dropped, received, reloads, lag *prometheus.Desc
	reloadErrs, sweeps, sweepErrs, subscribed               *prometheus.Desc
}

func newSyncCollector(s *changes.Syncer) *syncCollector {
	return &syncCollector{sync: s,
		published: prometheus.NewDesc("rolegate_notifications_published_total",
			"Changes (entity, revision) this instance published to the other instances.", nil, nil),
		publishErrs: prometheus.NewDesc("rolegate_notification_publish_errors_total",
			"Changes that could not be published (the write stands; the other instances catch up at their sweep).", nil, nil),
		dropped: prometheus.NewDesc("rolegate_notifications_dropped_total",
			"Changes not published because too many were waiting (the notifier is slow or gone).", nil, nil),
		received: prometheus.NewDesc("rolegate_notifications_received_total",
			"Changes heard from other instances.", nil, nil),
		reloads: prometheus.NewDesc("rolegate_policy_sync_reloads_total",
			"Entities reloaded (or dropped when deleted) to catch up with other instances, by cause: notification or sweep.",
			[]string{"cause"}, nil),
		reloadErrs: prometheus.NewDesc("rolegate_policy_sync_reload_errors_total",
			"Reloads to catch up with other instances that failed (the entity loads again on its next check).", nil, nil),
		sweeps: prometheus.NewDesc("rolegate_revision_sweeps_total",
			"Revision sweeps run (comparing the held entities' revisions with the store's).", nil, nil),
		sweepErrs: prometheus.NewDesc("rolegate_revision_sweep_errors_total",
			"Revision sweeps that could not read the store.", nil, nil),
		subscribed: prometheus.NewDesc("rolegate_notifications_subscribed",
			"1 while this instance is subscribed to the other instances' changes, else 0.", nil, nil),
		lag: prometheus.NewDesc("rolegate_notification_lag_seconds",
			"Time from a write's commit on another instance to the end of the reload it caused here (machines' clocks included).", nil, nil),
	}
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.publishErrs, c.dropped, c.received, c.reloads,
		c.reloadErrs, c.sweeps, c.sweepErrs, c.subscribed, c.lag} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sync.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.published, st.Published)
	counter(c.publishErrs, st.PublishErrors)
	counter(c.dropped, st.Dropped)
	counter(c.received, st.Received)
	for _, cause := range []string{"notification", "sweep"} {
		counter(c.reloads, st.Reloads[cause], cause)
	}
	counter(c.reloadErrs, st.ReloadErrors)
	counter(c.sweeps, st.Sweeps)
	counter(c.sweepErrs, st.SweepErrors)
	if c.sync.HasNotifier() {
		up := 0.0
		if st.Subscribed {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.subscribed, prometheus.GaugeValue, up)
	}
	h := c.sync.Lag()
	buckets := make(map[float64]uint64, len(h.Buckets))
	for i, b := range h.Buckets {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.lag, h.Count, h.Sum, buckets)
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics: scrape error", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// pprofDefaultSeconds is the length of a CPU profile or trace when the request
// does not say: below the server's 30 s write timeout, which net/http/pprof
// refuses to outlast.
const pprofDefaultSeconds = "10"

// servePprof serves net/http/pprof's pages under /debug/pprof.
func servePprof(c *gin.Context) {
	w, r := c.Writer, c.Request
	switch name := strings.TrimPrefix(c.Param("profile"), "/"); name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile", "trace":
		if r.URL.Query().Get("seconds") == "" {
			q := r.URL.Query()
			q.Set("seconds", pprofDefaultSeconds)
			r.URL.RawQuery = q.Encode()
		}
		if name == "profile" {
			pprof.Profile(w, r)
		} else {
			pprof.Trace(w, r)
		}
	case "symbol":
		pprof.Symbol(w, r)
	default:
		pprof.Index(w, r) // the index, and every named profile (heap, goroutine, ...)
	}
}
