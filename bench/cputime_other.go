//go:build !unix

package bench

import "time"

// cpuTime is not available here: Measure reports wall-clock time as CPU time.
func cpuTime() (time.Duration, bool) { return 0, false }
