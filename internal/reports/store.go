package reports

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meshmirror/meshmirror/plugin/endpoint"

	_ "modernc.org/sqlite" // the "sqlite" driver: SQLite in Go, no cgo
)

// Store keeps reports in one SQLite file. Writes go through one goroutine that commits
// whatever is waiting in one transaction (a group commit): each report is acknowledged
// once its transaction is committed, and one fsync covers many reports (RATIONALE.md).
type Store struct {
	db *sql.DB
	// mu guards closed: Add sends on jobs only while it is false, Close closes jobs.
	mu     sync.RWMutex
	closed bool
	jobs   chan job
	done   chan struct{}
	retain time.Duration
	// onCommit, when set, is called after each commit with the number of reports and
	// of summaries in it and how long the commit took; onDelete with the number of
	// reports retention deleted.
	onCommit func(reports, summaries int, d time.Duration)
	onDelete func(n int64)
}

// job is one document to commit: a report r (with its document doc) or a summary sum.
type job struct {
	r    *Report
	sum  *Summary
	doc  []byte
	at   time.Time
	errc chan error
}

// maxBatch is the most reports committed in one transaction.
const maxBatch = 256

const schema = `
CREATE TABLE IF NOT EXISTS reports (
	id INTEGER PRIMARY KEY,
	received INTEGER NOT NULL, -- Unix nanoseconds, the receiver's clock
	target TEXT NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL, path TEXT NOT NULL,
	request_id TEXT NOT NULL,
	primary_status INTEGER NOT NULL, shadow_status INTEGER NOT NULL,
	primary_ms INTEGER NOT NULL, shadow_ms INTEGER NOT NULL,
	primary_bytes INTEGER NOT NULL, shadow_bytes INTEGER NOT NULL,
	document TEXT NOT NULL -- as received
);
CREATE INDEX IF NOT EXISTS reports_received ON reports (received);
CREATE INDEX IF NOT EXISTS reports_endpoint ON reports (target, method, endpoint, received);
CREATE TABLE IF NOT EXISTS differences (
	report INTEGER NOT NULL, seq INTEGER NOT NULL,
	target TEXT NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL,
	place TEXT NOT NULL, kind TEXT NOT NULL, noise INTEGER NOT NULL,
	primary_value TEXT, shadow_value TEXT,
	PRIMARY KEY (report, seq)
) WITHOUT ROWID;
-- Covers the page's count of places: target, endpoint, place, kind, noise and (the key) report.
CREATE INDEX IF NOT EXISTS differences_places ON differences (target, method, endpoint, place, kind, noise);
`

// Open opens (or creates) the store in the SQLite file path, deleting reports older
// than retain (0 keeps them all) now and every so often while it is open.
func Open(path string, retain time.Duration) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database %q: must be a file name without ? or #", path)
	}
	// WAL lets the page read while a batch commits; synchronous FULL makes a commit
	// survive a power loss as well as a crash, which is what a 202 promises.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db.SetMaxOpenConns(4) // the writer and a few readers: each connection has its own cache
	if _, err := db.Exec(schema + summarySchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	s := &Store{db: db, jobs: make(chan job, maxBatch), done: make(chan struct{}), retain: retain}
	if err := s.deleteOld(time.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: deleting old reports: %w", path, err)
	}
	go s.write()
	return s, nil
}

// Add stores r, whose document is doc, received at at, and returns once it is
// committed, or the error that kept it from being committed (ErrClosed once Close
// has begun).
func (s *Store) Add(ctx context.Context, r *Report, doc []byte, at time.Time) error {
	return s.enqueue(ctx, job{r: r, doc: doc, at: at, errc: make(chan error, 1)})
}

// enqueue hands j to the writer and waits for its commit.
func (s *Store) enqueue(ctx context.Context, j job) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued it is committed or failed whatever the client does: wait for it.
	return <-j.errc
}

// ErrClosed is Add's error on a store that is closing.
var ErrClosed = errors.New("the report store is closing")

// Close stops the writer once the reports queued are committed, and closes the file.
// An Add from then on fails with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.jobs)
	s.mu.Unlock()
	<-s.done
	return s.db.Close()
}

// write commits the queued reports, in batches, and deletes old ones now and then.
func (s *Store) write() {
	defer close(s.done)
	every := time.Minute
	if s.retain > 0 && s.retain/10 < every {
		every = max(s.retain/10, time.Second)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	batch := make([]job, 0, maxBatch)
	for {
		select {
		case j, ok := <-s.jobs:
			if !ok {
				return
			}
			batch = append(batch[:0], j)
		drain:
			for len(batch) < maxBatch {
				select {
				case j, ok := <-s.jobs:
					if !ok {
						break drain
					}
					batch = append(batch, j)
				default:
					break drain
				}
			}
			start := time.Now()
			err := s.commit(batch)
			if err == nil && s.onCommit != nil {
				summaries := 0
				for _, j := range batch {
					if j.sum != nil {
						summaries++
					}
				}
				s.onCommit(len(batch)-summaries, summaries, time.Since(start))
			}
			for _, j := range batch {
				j.errc <- err
			}
			clear(batch) // let the documents go
		case now := <-tick.C:
			s.deleteOld(now) // a failure is tried again at the next tick
		}
	}
}

func (s *Store) commit(batch []job) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after a commit, a no-op
	insReport, err := tx.PrepareContext(ctx, `INSERT INTO reports (received, target, method, endpoint, path, request_id,
		primary_status, shadow_status, primary_ms, shadow_ms, primary_bytes, shadow_bytes, document)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insDiff, err := tx.PrepareContext(ctx, `INSERT INTO differences (report, seq, target, method, endpoint, place, kind, noise,
		primary_value, shadow_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	var summaries summaryBatch
	for _, j := range batch {
		if j.sum != nil {
			summaries.add(j.sum, j.at)
			continue
		}
		r := j.r
		endpoint := endpoint.Of(r.Path)
		res, err := insReport.ExecContext(ctx, j.at.UnixNano(), r.Target, r.Method, endpoint, r.Path, r.RequestID,
			r.Primary.Status, r.Shadow.Status, r.Primary.LatencyMs, r.Shadow.LatencyMs, r.Primary.Bytes, r.Shadow.Bytes, string(j.doc))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i, d := range r.Differences {
			if _, err := insDiff.ExecContext(ctx, id, i, r.Target, r.Method, endpoint, d.Place(), d.Kind, d.Noise,
				d.Primary, d.Shadow); err != nil {
				return err
			}
		}
	}
	if err := summaries.write(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// deleteOld deletes the reports received before now - retain, and the summaries that
// ended before then.
func (s *Store) deleteOld(now time.Time) error {
	if s.retain <= 0 {
		return nil
	}
	before := now.Add(-s.retain).UnixNano()
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM differences WHERE report IN (SELECT id FROM reports WHERE received < ?)`, before); err != nil {
		return err
	}
	res, err := tx.Exec(`DELETE FROM reports WHERE received < ?`, before)
	if err != nil {
		return err
	}
	if err := deleteOldSummaries(tx, now.Add(-s.retain).UnixMilli()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 && s.onDelete != nil {
		s.onDelete(n)
	}
	return nil
}

// EndpointSummary is what the store knows of one target's endpoint.
type EndpointSummary struct {
	Target   string         `json:"target"`
	Method   string         `json:"method"`
	Endpoint string         `json:"endpoint"`
	Reports  int            `json:"reports"`
	Places   []PlaceSummary `json:"places"`
	// Last is when its last report was received; Examples its latest reports.
	Last     time.Time `json:"-"`
	Examples []Example `json:"-"`
}

// PlaceSummary is one place where an endpoint's pairs differ.
type PlaceSummary struct {
	Place string `json:"place"`
	Kind  string `json:"kind"`
	// Count is the number of reports that name the place with this kind.
	Count int `json:"count"`
	// Noise says every difference reported there was noise; NoiseCount how many were.
	Noise      bool `json:"noise"`
	NoiseCount int  `json:"-"`
}

// Example is one stored report, for the page.
type Example struct {
	At                          time.Time
	Path, RequestID             string
	PrimaryStatus, ShadowStatus int
	PrimaryMs, ShadowMs         int64
	Differences                 []ExampleDifference
}

// ExampleDifference is one difference of an Example; Primary and Shadow are nil
// when the report carries no value.
type ExampleDifference struct {
	Place, Kind     string
	Noise           bool
	Primary, Shadow *string
}

// Limits of what a summary holds, which bound the page and the memory it takes.
const (
	maxEndpoints       = 100
	maxPlaces          = 12
	maxExamples        = 3
	maxExampleDiffs    = 6
	exampleValueLength = 120
)

// Totals is the count of stored reports and when the oldest was received.
func (s *Store) Totals(ctx context.Context) (n int, oldest time.Time, err error) {
	var first sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(received) FROM reports`).Scan(&n, &first)
	if first.Valid {
		oldest = time.Unix(0, first.Int64)
	}
	return n, oldest, err
}

// Endpoints summarizes the most reported endpoints, most reported first, each with its
// most reported places and, with examples, its latest reports.
func (s *Store) Endpoints(ctx context.Context, examples bool) ([]EndpointSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT target, method, endpoint, COUNT(*), MAX(received) FROM reports
		GROUP BY target, method, endpoint ORDER BY COUNT(*) DESC, target, method, endpoint LIMIT ?`, maxEndpoints)
	if err != nil {
		return nil, err
	}
	var out []EndpointSummary
	for rows.Next() {
		var e EndpointSummary
		var last int64
		if err := rows.Scan(&e.Target, &e.Method, &e.Endpoint, &e.Reports, &last); err != nil {
			rows.Close()
			return nil, err
		}
		e.Last, e.Places = time.Unix(0, last), []PlaceSummary{}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		e := &out[i]
		if err := s.places(ctx, e); err != nil {
			return nil, err
		}
		if examples {
			if err := s.examples(ctx, e); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (s *Store) places(ctx context.Context, e *EndpointSummary) error {
	rows, err := s.db.QueryContext(ctx, `SELECT place, kind, COUNT(DISTINCT report), SUM(noise), COUNT(*) FROM differences
		WHERE target = ? AND method = ? AND endpoint = ? GROUP BY place, kind
		ORDER BY COUNT(DISTINCT report) DESC, place, kind LIMIT ?`, e.Target, e.Method, e.Endpoint, maxPlaces)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p PlaceSummary
		var all int
		if err := rows.Scan(&p.Place, &p.Kind, &p.Count, &p.NoiseCount, &all); err != nil {
			return err
		}
		p.Noise = p.NoiseCount == all
		e.Places = append(e.Places, p)
	}
	return rows.Err()
}

func (s *Store) examples(ctx context.Context, e *EndpointSummary) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, received, path, request_id, primary_status, shadow_status, primary_ms, shadow_ms
		FROM reports WHERE target = ? AND method = ? AND endpoint = ? ORDER BY received DESC, id DESC LIMIT ?`,
		e.Target, e.Method, e.Endpoint, maxExamples)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var x Example
		var id, at int64
		if err := rows.Scan(&id, &at, &x.Path, &x.RequestID, &x.PrimaryStatus, &x.ShadowStatus, &x.PrimaryMs, &x.ShadowMs); err != nil {
			rows.Close()
			return err
		}
		x.At = time.Unix(0, at)
		ids = append(ids, id)
		e.Examples = append(e.Examples, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, id := range ids {
		x := &e.Examples[i]
		rows, err := s.db.QueryContext(ctx, `SELECT place, kind, noise, substr(primary_value, 1, ?), substr(shadow_value, 1, ?)
			FROM differences WHERE report = ? ORDER BY seq LIMIT ?`, exampleValueLength, exampleValueLength, id, maxExampleDiffs)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d ExampleDifference
			var primary, shadow sql.NullString
			if err := rows.Scan(&d.Place, &d.Kind, &d.Noise, &primary, &shadow); err != nil {
				rows.Close()
				return err
			}
			if primary.Valid {
				d.Primary = &primary.String
			}
			if shadow.Valid {
				d.Shadow = &shadow.String
			}
			x.Differences = append(x.Differences, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
