package reports

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// slotMs is the width of the slots summaries are also added up in, in ms: one minute.
const slotMs = 60_000

// Summaries are kept twice (RATIONALE.md, "Why summaries per interval and per minute?"):
// as sent, one row per endpoint per summary (summary_endpoints, summary_places), and
// added up per minute of their end (summary_minutes, summary_minute_places). A window
// reads the whole minutes inside it from the sums, and only the minute at its start
// from the rows as sent, so a verdict over an hour reads about a minute of rows as sent
// whatever the number of workers, and is still exact to the summary.
//
// Every count is a column of its own: SQLite adds them up itself (SUM), and a small
// count takes one byte of the row.
var summarySchema = `
CREATE TABLE IF NOT EXISTS summary_endpoints (
	id INTEGER PRIMARY KEY,
	received INTEGER NOT NULL, -- Unix nanoseconds, the receiver's clock
	target TEXT NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL,
	from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL, -- the interval, the sender's clock
	` + countColumns("", " INTEGER NOT NULL") + `
);
CREATE INDEX IF NOT EXISTS summary_endpoints_window ON summary_endpoints (target, to_ms);
CREATE TABLE IF NOT EXISTS summary_places (
	row INTEGER NOT NULL, place TEXT NOT NULL,
	target TEXT NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL, to_ms INTEGER NOT NULL,
	differs INTEGER NOT NULL, noise INTEGER NOT NULL,
	PRIMARY KEY (row, place)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS summary_places_window ON summary_places (target, to_ms);
CREATE TABLE IF NOT EXISTS summary_minutes (
	target TEXT NOT NULL, minute INTEGER NOT NULL, -- to_ms / 60000
	method TEXT NOT NULL, endpoint TEXT NOT NULL,
	` + countColumns("", " INTEGER NOT NULL") + `,
	PRIMARY KEY (target, minute, method, endpoint)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS summary_minute_places (
	target TEXT NOT NULL, minute INTEGER NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL,
	place TEXT NOT NULL, differs INTEGER NOT NULL, noise INTEGER NOT NULL,
	PRIMARY KEY (target, minute, method, endpoint, place)
) WITHOUT ROWID;
`

// countNames are the count columns of a summary's endpoint: the pairs, then the
// primary's latency buckets p0 to p13 and the shadow's s0 to s13.
var countNames = func() []string {
	names := []string{"same", "differs", "noise", "skipped"}
	for _, side := range []string{"p", "s"} {
		for b := range Buckets {
			names = append(names, side+strconv.Itoa(b))
		}
	}
	return names
}()

// countColumns lists the count columns, each as prefix+name+suffix, comma-separated.
func countColumns(prefix, suffix string) string {
	var b strings.Builder
	for i, n := range countNames {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + n + suffix)
	}
	return b.String()
}

// counts are an endpoint's count columns, in countNames' order.
type counts [4 + 2*Buckets]int64

func countsOf(e *SummaryEndpoint) counts {
	var c counts
	c[0], c[1], c[2], c[3] = e.Same, e.Differs, e.Noise, e.Skipped
	copy(c[4:], e.PrimaryMs[:])
	copy(c[4+Buckets:], e.ShadowMs[:])
	return c
}

func (c *counts) add(o *counts) {
	for i := range c {
		c[i] += o[i]
	}
}

func (c *counts) same() int64     { return c[0] }
func (c *counts) differs() int64  { return c[1] }
func (c *counts) noise() int64    { return c[2] }
func (c *counts) compared() int64 { return c[0] + c[1] + c[2] }
func (c *counts) primaryMs() []int64 {
	return c[4 : 4+Buckets]
}
func (c *counts) shadowMs() []int64 { return c[4+Buckets:] }

// MaxSummaryAhead is how far past the receiver's clock a summary's end may be: a
// sender's clock a little ahead is taken, a summary of the far future (which retention
// would keep for as long) is refused.
const MaxSummaryAhead = time.Hour

// AddSummary stores s, received at at, and returns once it is committed, in the same
// group commit as reports, or the error that kept it from being committed.
func (s *Store) AddSummary(ctx context.Context, sum *Summary, at time.Time) error {
	return s.enqueue(ctx, job{sum: sum, at: at, errc: make(chan error, 1)})
}

// summaryBatch is the summaries of one commit, written with few statements: the
// rows as sent in multi-row inserts, and each minute's sums added up in Go first, so
// that the summaries of many workers for the same minute update each endpoint's sums
// once (RATIONALE.md, "Why summaries per interval and per minute?").
type summaryBatch struct {
	rows    []summaryRow
	places  []summaryPlaceRow
	minutes map[minuteKey]*counts
	mplaces map[minutePlaceKey]*[2]int64
}

type summaryRow struct {
	received                 int64
	target, method, endpoint string
	from, to                 int64
	c                        counts
}

type summaryPlaceRow struct {
	row                      int // index in rows
	place                    string
	target, method, endpoint string
	to                       int64
	differs, noise           int64
}

type minuteKey struct {
	target           string
	minute           int64
	method, endpoint string
}

type minutePlaceKey struct {
	minuteKey
	place string
}

// add takes one summary, received at at.
func (b *summaryBatch) add(sum *Summary, at time.Time) {
	if b.minutes == nil {
		b.minutes, b.mplaces = map[minuteKey]*counts{}, map[minutePlaceKey]*[2]int64{}
	}
	minute := sum.To / slotMs
	for i := range sum.Endpoints {
		e := &sum.Endpoints[i]
		c := countsOf(e)
		b.rows = append(b.rows, summaryRow{at.UnixNano(), sum.Target, e.Method, e.Endpoint, sum.From, sum.To, c})
		k := minuteKey{sum.Target, minute, e.Method, e.Endpoint}
		if m := b.minutes[k]; m != nil {
			m.add(&c)
		} else {
			b.minutes[k] = &c
		}
		for _, p := range e.Places {
			b.places = append(b.places, summaryPlaceRow{len(b.rows) - 1, p.Place, sum.Target, e.Method, e.Endpoint, sum.To, p.Differs, p.Noise})
			pk := minutePlaceKey{k, p.Place}
			if m := b.mplaces[pk]; m != nil {
				m[0], m[1] = m[0]+p.Differs, m[1]+p.Noise
			} else {
				b.mplaces[pk] = &[2]int64{p.Differs, p.Noise}
			}
		}
	}
}

// maxParams bounds the parameters of one statement (SQLite allows 32766).
const maxParams = 4000

// insertRows runs INSERT head VALUES (...), (...) tail for rows of width values each,
// as few statements as maxParams allows; row(i, args) appends row i's values.
func insertRows(ctx context.Context, tx *sql.Tx, head, tail string, width, n int, row func(i int, args []any) []any) error {
	per := max(maxParams/width, 1)
	marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	args := make([]any, 0, per*width)
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		values := strings.TrimSuffix(strings.Repeat(marks+", ", end-start), ", ")
		if _, err := tx.ExecContext(ctx, head+" VALUES "+values+" "+tail, args...); err != nil {
			return err
		}
	}
	return nil
}

// write stores the batch in tx.
func (b *summaryBatch) write(ctx context.Context, tx *sql.Tx) error {
	if len(b.rows) == 0 {
		return nil
	}
	// The rows' ids are given here, so that their places can name them: this is the
	// only writer.
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM summary_endpoints`).Scan(&last); err != nil {
		return err
	}
	if err := insertRows(ctx, tx, `INSERT INTO summary_endpoints (id, received, target, method, endpoint, from_ms, to_ms, `+countColumns("", "")+`)`, "",
		7+len(countNames), len(b.rows), func(i int, args []any) []any {
			r := &b.rows[i]
			args = append(args, last+1+int64(i), r.received, r.target, r.method, r.endpoint, r.from, r.to)
			for _, n := range r.c {
				args = append(args, n)
			}
			return args
		}); err != nil {
		return err
	}
	if err := insertRows(ctx, tx, `INSERT INTO summary_places (row, place, target, method, endpoint, to_ms, differs, noise)`, "",
		8, len(b.places), func(i int, args []any) []any {
			p := &b.places[i]
			return append(args, last+1+int64(p.row), p.place, p.target, p.method, p.endpoint, p.to, p.differs, p.noise)
		}); err != nil {
		return err
	}
	keys := make([]minuteKey, 0, len(b.minutes))
	for k := range b.minutes {
		keys = append(keys, k)
	}
	var sums []string
	for _, n := range countNames {
		sums = append(sums, n+" = "+n+" + excluded."+n)
	}
	if err := insertRows(ctx, tx, `INSERT INTO summary_minutes (target, minute, method, endpoint, `+countColumns("", "")+`)`,
		`ON CONFLICT (target, minute, method, endpoint) DO UPDATE SET `+strings.Join(sums, ", "),
		4+len(countNames), len(keys), func(i int, args []any) []any {
			k := keys[i]
			args = append(args, k.target, k.minute, k.method, k.endpoint)
			for _, n := range b.minutes[k] {
				args = append(args, n)
			}
			return args
		}); err != nil {
		return err
	}
	pkeys := make([]minutePlaceKey, 0, len(b.mplaces))
	for k := range b.mplaces {
		pkeys = append(pkeys, k)
	}
	return insertRows(ctx, tx, `INSERT INTO summary_minute_places (target, minute, method, endpoint, place, differs, noise)`,
		`ON CONFLICT (target, minute, method, endpoint, place) DO UPDATE SET differs = differs + excluded.differs, noise = noise + excluded.noise`,
		7, len(pkeys), func(i int, args []any) []any {
			k := pkeys[i]
			v := b.mplaces[k]
			return append(args, k.target, k.minute, k.method, k.endpoint, k.place, v[0], v[1])
		})
}

// deleteOldSummaries deletes, in tx, the summaries that ended before beforeMs (Unix
// ms), and the minutes that ended by then: target by target, so that each delete is a
// range of an index ((target, to_ms), (target, minute)) rather than a scan of everything
// kept, every minute.
func deleteOldSummaries(tx *sql.Tx, beforeMs int64) error {
	minute := beforeMs / slotMs // minutes before this one ended by beforeMs
	var targets []string
	for _, table := range []string{"summary_endpoints", "summary_minutes"} {
		rows, err := tx.Query(`WITH RECURSIVE t(target) AS (
			SELECT MIN(target) FROM ` + table + `
			UNION ALL SELECT (SELECT MIN(target) FROM ` + table + ` WHERE target > t.target) FROM t WHERE t.target IS NOT NULL
		) SELECT target FROM t WHERE target IS NOT NULL`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, target := range targets {
		for _, q := range []struct {
			sql string
			arg int64
		}{
			{`DELETE FROM summary_places WHERE target = ? AND to_ms < ?`, beforeMs},
			{`DELETE FROM summary_endpoints WHERE target = ? AND to_ms < ?`, beforeMs},
			{`DELETE FROM summary_minute_places WHERE target = ? AND minute < ?`, minute},
			{`DELETE FROM summary_minutes WHERE target = ? AND minute < ?`, minute},
		} {
			if _, err := tx.Exec(q.sql, target, q.arg); err != nil {
				return err
			}
		}
	}
	return nil
}

// endpointCounts are the summed counts of one endpoint over a window.
type endpointCounts struct {
	Method, Endpoint string
	counts           counts
	Places           []SummaryPlace
}

// windowBounds splits the window that starts after sinceMs (Unix ms) into whole
// minutes, from firstMinute on, read from the sums, and the part of the minute before
// (sinceMs, edgeEndMs), read from the rows as sent.
func windowBounds(sinceMs int64) (firstMinute, edgeEndMs int64) {
	firstMinute = floorDiv(sinceMs, slotMs) + 1
	return firstMinute, firstMinute * slotMs
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// windowCounts sums target's summaries that ended after sinceMs, per endpoint, with
// its places when places is set.
func (s *Store) windowCounts(ctx context.Context, target string, sinceMs int64, places bool) ([]endpointCounts, error) {
	first, edgeEnd := windowBounds(sinceMs)
	cols := countColumns("SUM(", ")")
	rows, err := s.db.QueryContext(ctx, `SELECT method, endpoint, `+cols+` FROM (
		SELECT method, endpoint, `+countColumns("", "")+` FROM summary_minutes WHERE target = ? AND minute >= ?
		UNION ALL
		SELECT method, endpoint, `+countColumns("", "")+` FROM summary_endpoints WHERE target = ? AND to_ms > ? AND to_ms < ?
	) GROUP BY method, endpoint`, target, first, target, sinceMs, edgeEnd)
	if err != nil {
		return nil, err
	}
	var out []endpointCounts
	for rows.Next() {
		var e endpointCounts
		dest := []any{&e.Method, &e.Endpoint}
		for i := range e.counts {
			dest = append(dest, &e.counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil || !places || len(out) == 0 {
		return out, err
	}
	byKey := map[[2]string]*endpointCounts{}
	for i := range out {
		byKey[[2]string{out[i].Method, out[i].Endpoint}] = &out[i]
	}
	rows, err = s.db.QueryContext(ctx, `SELECT method, endpoint, place, SUM(differs), SUM(noise) FROM (
		SELECT method, endpoint, place, differs, noise FROM summary_minute_places WHERE target = ? AND minute >= ?
		UNION ALL
		SELECT method, endpoint, place, differs, noise FROM summary_places WHERE target = ? AND to_ms > ? AND to_ms < ?
	) GROUP BY method, endpoint, place ORDER BY SUM(differs) DESC, SUM(noise) DESC, place`, target, first, target, sinceMs, edgeEnd)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var method, endpoint string
		var p SummaryPlace
		if err := rows.Scan(&method, &endpoint, &p.Place, &p.Differs, &p.Noise); err != nil {
			return nil, err
		}
		if e := byKey[[2]string{method, endpoint}]; e != nil && len(e.Places) < maxPlaces {
			e.Places = append(e.Places, p)
		}
	}
	return out, rows.Err()
}

// hasTarget reports whether any stored summary names target.
func (s *Store) hasTarget(ctx context.Context, target string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM summary_minutes WHERE target = ? LIMIT 1`, target).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// summaryTargets lists the targets stored summaries name, in order.
func (s *Store) summaryTargets(ctx context.Context) ([]string, error) {
	// One index lookup per target (a skip scan), not a scan of every minute kept.
	rows, err := s.db.QueryContext(ctx, `WITH RECURSIVE t(target) AS (
		SELECT MIN(target) FROM summary_minutes
		UNION ALL SELECT (SELECT MIN(target) FROM summary_minutes WHERE target > t.target) FROM t WHERE t.target IS NOT NULL
	) SELECT target FROM t WHERE target IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// point is one step of an endpoint's chart: the pairs of the minutes from At on.
type point struct {
	At time.Time
	c  counts
}

// series returns target's summed counts per endpoint in steps of step minutes, from
// the minute that holds sinceMs on, oldest first.
func (s *Store) series(ctx context.Context, target string, sinceMs int64, step int64) (map[[2]string][]point, error) {
	if step < 1 {
		return nil, fmt.Errorf("step %d: must be at least one minute", step)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT method, endpoint, minute / ? AS step, `+countColumns("SUM(", ")")+`
		FROM summary_minutes WHERE target = ? AND minute >= ? GROUP BY method, endpoint, step ORDER BY step`,
		step, target, floorDiv(sinceMs, slotMs))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string][]point{}
	for rows.Next() {
		var method, endpoint string
		var n int64
		var p point
		dest := []any{&method, &endpoint, &n}
		for i := range p.c {
			dest = append(dest, &p.c[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		p.At = time.UnixMilli(n * step * slotMs)
		key := [2]string{method, endpoint}
		out[key] = append(out[key], p)
	}
	return out, rows.Err()
}
