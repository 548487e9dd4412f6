// Command meshmirror is the operator's tool for the meshmirror Wasm plugin.
//
//	meshmirror validate FILE...
//	meshmirror reports [-listen 127.0.0.1:8089] [-db meshmirror-reports.db] [-retain 168h] [-host NAME]...
//	meshmirror verdict -receiver URL -target T [-window 1h] [-max-differ-rate 0.01] [-max-latency-ratio 1.5] [-min-pairs 100]
//
// validate
// checks every meshmirror configuration in each file before it is applied: a JSON
// configuration, Kubernetes manifests with WasmPlugins or TrafficExtensions (each
// pluginConfig), or an Envoy bootstrap (each meshmirror wasm filter's configuration).
// It prints every problem as `file: document: path: message` and exits 1 when it finds
// any, 0 otherwise. It parses with the same code as the module, so a configuration it
// passes is one the plugin takes; one it refuses, the plugin would start with and
// mirror nothing.
//
// reports receives the reports the plugin POSTs to compare.report.cluster, stores them
// in one SQLite file and serves a page of them per target and endpoint at /, the same
// as JSON at /api/endpoints, /metrics and /healthz (README "Reports"). It answers a
// Host that is an IP address, localhost, or a NAME given with -host, and 421 to any
// other (DNS rebinding).
//
// verdict asks a receiver whether a target's version may go on, from the plugin's
// summaries (GET /api/verdict), prints the verdict, its reasons and the worst
// endpoints, and exits 0 on pass, 1 on fail, 3 on inconclusive and 2 on a usage or
// connection error: a pipeline step (README "Gate a rollout on it").
//
// Install it with
//
//	go install github.com/meshmirror/meshmirror/cmd/meshmirror@latest
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshmirror/meshmirror/internal/reports"
	"github.com/meshmirror/meshmirror/internal/validate"
)

const usage = `usage: meshmirror validate FILE...
       meshmirror reports [-listen 127.0.0.1:8089] [-db meshmirror-reports.db] [-retain 168h] [-host NAME]...
       ` + reports.VerdictUsage + `

validate:

Checks each meshmirror configuration in FILE (a JSON configuration, Kubernetes
manifests with WasmPlugins or TrafficExtensions, or an Envoy bootstrap; - reads
standard input) and prints every problem as file: document: path: message.
Exits 1 when there is a problem, 0 otherwise, 2 on a usage error.

reports:
Receives the plugin's reports at POST /meshmirror/reports, stores them in an
SQLite file, and serves a page of them at /. It answers a Host that is an IP
address, localhost, or a NAME given with -host (repeatable: the names clients
reach it by, e.g. a Service's), and 421 to any other. Stops on SIGINT or SIGTERM.

verdict:
Asks a receiver for a target's verdict (GET /api/verdict) and prints it. Exits 0 on
pass, 1 on fail, 3 on inconclusive, 2 on a usage or connection error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command with its arguments and streams, for the tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "verdict" {
		return verdict(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "reports" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return receive(ctx, args[1:], stdout, stderr)
	}
	if len(args) < 2 || args[0] != "validate" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	status := 0
	for _, name := range args[1:] {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", name, err)
			status = 1
			continue
		}
		result := validate.File(data)
		for _, p := range result.Problems {
			fmt.Fprintf(stdout, "%s: %s\n", name, p)
		}
		switch {
		case len(result.Problems) > 0:
			status = 1
		case result.Configurations == 0:
			fmt.Fprintf(stderr, "%s: no meshmirror configuration in it (no WasmPlugin or TrafficExtension with pluginName %s, no wasm filter with root_id %s)\n", name, validate.RootID, validate.RootID)
		default:
			fmt.Fprintf(stderr, "%s: %d meshmirror configuration(s), valid\n", name, result.Configurations)
		}
	}
	return status
}

// receive is meshmirror reports: it serves until ctx is done.
func receive(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reports", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8089", "address to listen on")
	db := fs.String("db", "meshmirror-reports.db", "SQLite file the reports are stored in (created if missing)")
	retain := fs.Duration("retain", 168*time.Hour, "delete reports older than this; 0 keeps them all")
	var hosts hostNames
	fs.Var(&hosts, "host", "a `NAME` clients reach the receiver by, answered in Host besides IP addresses and localhost (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *retain < 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "meshmirror reports: %v\n", err)
		return 1
	}
	logger := log.New(stderr, "", log.LstdFlags)
	err = reports.Run(ctx, ln, *db, *retain, logger.Printf, func() {
		fmt.Fprintf(stdout, "meshmirror reports: http://%s/ (reports to POST %s), stored in %s, kept %v\n", ln.Addr(), reports.Path, *db, *retain)
	}, hosts...)
	if err != nil {
		fmt.Fprintf(stderr, "meshmirror reports: %v\n", err)
		return 1
	}
	return 0
}

// hostNames is the repeatable flag -host: each value must be a DNS name.
type hostNames []string

func (h *hostNames) String() string { return strings.Join(*h, ",") }

func (h *hostNames) Set(name string) error {
	if err := reports.CheckHostName(name); err != nil {
		return err
	}
	*h = append(*h, name)
	return nil
}
