//go:build !tinygo

package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// Natively, under the SDK's proxytest host, the metrics go through the SDK, whose
// emulator has no host functions to import; the module calls them itself
// (metrics_tinygo.go).

// hostCounter, hostGauge and hostHistogram are the SDK's metrics.
type (
	hostCounter   proxywasm.MetricCounter
	hostGauge     proxywasm.MetricGauge
	hostHistogram proxywasm.MetricHistogram
)

func defineCounter(name string) hostCounter { return hostCounter(proxywasm.DefineCounterMetric(name)) }

func defineGauge(name string) hostGauge { return hostGauge(proxywasm.DefineGaugeMetric(name)) }

func defineHistogram(name string) hostHistogram {
	return hostHistogram(proxywasm.DefineHistogramMetric(name))
}

func (c hostCounter) increment()        { proxywasm.MetricCounter(c).Increment(1) }
func (g hostGauge) add(delta int64)     { proxywasm.MetricGauge(g).Add(delta) }
func (h hostHistogram) record(v uint64) { proxywasm.MetricHistogram(h).Record(v) }
func (g hostGauge) value() int64        { return proxywasm.MetricGauge(g).Value() }
