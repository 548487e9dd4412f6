package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/bench"
	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

// TestReconfigureUnderTraffic changes the plugin's configuration five times while
// clients send requests, as an operator's WasmPlugin edits reach Envoy, with copies
// queued and in flight to a shadow that takes up to 30 ms. Every primary request is
// answered by the primary; once the traffic stops and the old configurations have
// ended, every copy the plugin sent has exactly one outcome and nothing is in flight.
func TestReconfigureUnderTraffic(t *testing.T) {
	shadow := backend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		w.Write([]byte("ok"))
	})
	config := func(i int) string {
		return fmt.Sprintf(`{"targets": [{"name": "shadow", "cluster": "shadow", "percentage": %d, "timeoutMs": 1000}]}`, 50+10*i)
	}
	m := start(t, config(0), backend(t, "primary", nil), map[string]string{"shadow": shadow.Addr})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered, failed := 0, 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post("http://"+m.addr+"/api/items", "text/plain", nil)
				mu.Lock()
				if err != nil || resp.StatusCode != 200 {
					failed++
				} else {
					answered++
				}
				mu.Unlock()
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	cfg := &runner.Config{Listen: "127.0.0.1:0", Primary: "primary",
		Clusters: map[string]string{"primary": m.primary.Addr, "shadow": shadow.Addr}}
	for i := 1; i <= 5; i++ {
		time.Sleep(150 * time.Millisecond)
		cfg := *cfg
		cfg.PluginConfig = []byte(config(i))
		if err := m.runner.Reload(context.Background(), &cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()

	h := m.runner.Host()
	waitFor(t, "the old configurations to end", func() bool { return len(h.RootContexts()) == 1 })
	h.Wait()
	if failed > 0 || answered == 0 {
		t.Fatalf("%d primary requests answered, %d failed", answered, failed)
	}
	metrics := h.Metrics()
	if err := bench.CheckOutcomes(metrics); err != nil {
		t.Error(err)
	}
	dispatched := metrics[mirror.CounterName("shadow", mirror.Dispatched)]
	if got := len(shadow.Requests()); uint64(got) != dispatched || dispatched == 0 {
		t.Errorf("the shadow received %d copies, the plugin sent %d", got, dispatched)
	}
	if v := metrics[mirror.CounterName("shadow", mirror.Cancelled)]; v != 0 {
		t.Errorf("cancelled = %d: an ending configuration lost copies the shadow answered within their timeout", v)
	}
	if timers := h.Timers(); len(timers) > 0 {
		t.Errorf("tick timers still set: %v", timers)
	}
	t.Logf("%d requests, %d copies, %d configurations", answered, dispatched, 6)
}
