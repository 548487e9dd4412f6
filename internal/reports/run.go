package reports

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// NewHTTPServer is an http.Server for h with the receiver's bounds: slow or endless
// clients are cut off, headers are at most 64 KiB.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Run serves the receiver on ln with the store in the SQLite file db until ctx is
// done, then stops taking reports, lets those being stored commit, and closes the
// file. ready, when not nil, is called once the store is open and ln served. hosts
// are the names the receiver answers besides IP addresses and localhost (-host,
// Server.AllowHosts).
func Run(ctx context.Context, ln net.Listener, db string, retain time.Duration, logf func(string, ...any), ready func(), hosts ...string) error {
	store, err := Open(db, retain)
	if err != nil {
		ln.Close()
		return err
	}
	s := NewServer(store, logf)
	if err := s.AllowHosts(hosts...); err != nil {
		ln.Close()
		return errors.Join(err, store.Close())
	}
	srv := NewHTTPServer(s)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		ready()
	}
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdown)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, store.Close())
}
