package reports

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the plugin POSTs its reports (compare.report.path's default).
const Path = "/meshmirror/reports"

// maxPending is the most reports the receiver stores at once, read and waiting for
// their commit; beyond it a report is answered 503 at once. A report takes its slot
// only once its body is in, so clients still sending cannot hold them all; the bodies
// being read are bounded apart, by bytes (maxBodyBytes, the same 64 MiB).
const maxPending = 64

// RefreshSeconds is how often the page reloads itself.
const RefreshSeconds = 10

// Server is the receiver's HTTP side: the reports' endpoint, the page, the JSON, the
// health check and the receiver's own metrics.
type Server struct {
	store   *Store
	mux     *http.ServeMux
	pending chan struct{}
	logf    func(format string, args ...any)

	// BodyTimeout is how long a report's body may take to arrive once its headers
	// have; a body still arriving then is answered 408. Defaults to DefaultBodyTimeout
	// (5 s). Set it before serving.
	BodyTimeout time.Duration
	bodyBytes   *byteBudget
	hosts       map[string]bool // besides IP addresses and localhost (AllowHosts)

	answered  *prometheus.CounterVec
	stored    prometheus.Counter
	summaries prometheus.Counter
	deleted   prometheus.Counter
	commit    prometheus.Histogram
	inFlight  prometheus.Gauge
	receiving prometheus.Gauge
	pageFails prometheus.Counter
}

// NewServer serves store. logf, when not nil, logs the receiver's own failures (a
// commit that failed); the reports refused are counted, not logged.
func NewServer(store *Store, logf func(format string, args ...any)) *Server {
	if logf == nil {
		logf = log.Printf
	}
	s := &Server{store: store, mux: http.NewServeMux(), pending: make(chan struct{}, maxPending), logf: logf,
		BodyTimeout: DefaultBodyTimeout, bodyBytes: newByteBudget(maxBodyBytes)}
	reg := prometheus.NewRegistry()
	s.answered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshmirror_reports_requests_total",
		Help: "Report requests answered, by status code: 202 stored, 400 not a report, 403 from a web page, 408 body too slow, " +
			"413 too large, 415 not JSON, 421 unknown Host, 503 busy, 500 not stored."}, []string{"code"})
	s.stored = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshmirror_reports_stored_total",
		Help: "Reports committed to the database."})
	s.summaries = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshmirror_reports_summaries_stored_total",
		Help: "Summaries committed to the database."})
	s.deleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshmirror_reports_deleted_total",
		Help: "Reports deleted for being older than -retain."})
	s.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meshmirror_reports_commit_seconds",
		Help: "Time to commit one batch of reports.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshmirror_reports_pending",
		Help: "Reports read and waiting for their commit."})
	s.receiving = prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshmirror_reports_receiving",
		Help: "Report bodies still arriving (they hold no slot of meshmirror_reports_pending)."})
	s.pageFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "meshmirror_reports_page_errors_total",
		Help: "Pages and API answers that failed to read the database."})
	for _, code := range []string{"202", "400", "403", "408", "413", "415", "421", "500", "503"} {
		s.answered.WithLabelValues(code) // at zero from the start
	}
	reg.MustRegister(s.answered, s.stored, s.summaries, s.deleted, s.commit, s.inFlight, s.receiving, s.pageFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	store.onCommit = func(reports, summaries int, d time.Duration) {
		s.stored.Add(float64(reports))
		s.summaries.Add(float64(summaries))
		s.commit.Observe(d.Seconds())
	}
	store.onDelete = func(n int64) { s.deleted.Add(float64(n)) }

	s.mux.HandleFunc("POST "+Path, s.receive)
	s.mux.HandleFunc("GET /{$}", s.page)
	s.routeStatic()
	s.mux.HandleFunc("GET /api/endpoints", s.endpoints)
	s.mux.HandleFunc("GET "+VerdictPath, s.verdict)
	s.mux.Handle("GET /static/", staticHandler())
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.guard(w, r) {
		s.mux.ServeHTTP(w, r)
	}
}

// receive stores one report: 202 once committed, 400 with the reason, 408 for a body
// that did not arrive within BodyTimeout, 413 over MaxBytes, 503 when maxPending
// reports are already being stored. A slot of maxPending is taken only once the body
// is in: clients still sending hold none (readBody).
func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBytes {
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a report is at most %d bytes, this one is %d", MaxBytes, r.ContentLength))
		return
	}
	doc, release, err := s.readBody(w, r)
	defer release()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a report is at most %d bytes", MaxBytes))
		return
	case errors.Is(err, errBodySlow):
		w.Header().Set("Connection", "close")
		s.fail(w, http.StatusRequestTimeout, err.Error())
		return
	case errors.Is(err, errBodyBusy):
		w.Header().Set("Connection", "close") // rather than wait for the rest of the body
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		s.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	select {
	case s.pending <- struct{}{}:
		s.inFlight.Inc()
		defer func() { <-s.pending; s.inFlight.Dec() }()
	default:
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, "busy: "+strconv.Itoa(maxPending)+" reports are being stored; try again")
		return
	}
	d, err := parseDocument(doc)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "not a meshmirror report or summary: "+err.Error())
		return
	}
	if err := s.store.addDocument(r.Context(), d, doc, time.Now()); err != nil {
		if errors.Is(err, ErrClosed) {
			w.Header().Set("Retry-After", "5")
			s.fail(w, http.StatusServiceUnavailable, "shutting down: not stored; send it again")
			return
		}
		if r.Context().Err() == nil {
			s.logf("meshmirror reports: storing a report: %v", err)
		}
		s.fail(w, http.StatusInternalServerError, "not stored: "+err.Error())
		return
	}
	s.answered.WithLabelValues("202").Inc()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) fail(w http.ResponseWriter, code int, msg string) {
	s.answered.WithLabelValues(strconv.Itoa(code)).Inc()
	http.Error(w, msg, code)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.db.PingContext(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

func (s *Server) endpoints(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.Endpoints(r.Context(), false)
	if err != nil {
		s.pageFails.Inc()
		http.Error(w, "reading the reports: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if list == nil {
		list = []EndpointSummary{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"ago": ago,
	// examples is the data of the template "examples": reports, and the time now.
	"examples": func(now time.Time, ex []Example) any {
		return struct {
			Now      time.Time
			Examples []Example
		}{now, ex}
	},
	"num":   formatFloat,
	"clock": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"pct": func(n, of int) int {
		if of == 0 {
			return 0
		}
		return (100*n + of/2) / of
	},
	"status": func(code int) string {
		if code == 0 {
			return "none"
		}
		return strconv.Itoa(code)
	},
}).Parse(pageHTML))

// pageData is what the page shows.
type pageData struct {
	Now       time.Time
	Refresh   int
	Reports   int
	Oldest    time.Time
	Endpoints []EndpointSummary
	// Summaries are the verdicts and endpoints of the summaries; Endpoints then holds
	// only the endpoints with reports and no summary in the window.
	Summaries summaryView
	Err       string
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{Now: time.Now(), Refresh: RefreshSeconds}
	var err error
	d.Reports, d.Oldest, err = s.store.Totals(r.Context())
	if err == nil {
		d.Endpoints, err = s.store.Endpoints(r.Context(), true)
	}
	if err == nil {
		d.Summaries, d.Endpoints, err = s.store.summaries(r.Context(), r, d.Now, d.Endpoints)
	}
	if err != nil {
		s.pageFails.Inc()
		d.Err = err.Error()
	}
	var out bytes.Buffer
	if err := pageTemplate.Execute(&out, d); err != nil {
		s.pageFails.Inc()
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(out.Bytes())
}

// ago is how long before now t was, in words for a person.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}
