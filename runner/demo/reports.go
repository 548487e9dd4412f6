package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/meshmirror/meshmirror/internal/reports"
)

// demoReceiver is `meshmirror reports` in the demo's process, its database in a
// temporary directory that goes when the demo ends.
type demoReceiver struct {
	dir    string
	store  *reports.Store
	server *reports.Server
}

func startReceiver() (*demoReceiver, error) {
	dir, err := os.MkdirTemp("", "meshmirror-demo-reports-")
	if err != nil {
		return nil, err
	}
	store, err := reports.Open(filepath.Join(dir, "reports.db"), 0)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	server := reports.NewServer(store, log.Printf)
	// The plugin posts to the cluster reports with that name as :authority, which the
	// runner sends as Host.
	if err := server.AllowHosts("reports"); err != nil {
		store.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &demoReceiver{dir: dir, store: store, server: server}, nil
}

func (d *demoReceiver) close() {
	if err := d.store.Close(); err != nil {
		log.Printf("reports: %v", err)
	}
	os.RemoveAll(d.dir)
}
