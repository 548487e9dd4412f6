package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshmirror/meshmirror/internal/reports"
)

// verdict is meshmirror verdict: its work is reports.VerdictCommand, which make run's
// demo calls too.
func verdict(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return reports.VerdictCommand(ctx, args, stdout, stderr)
}
