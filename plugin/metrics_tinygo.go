//go:build tinygo

package main

import (
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// The module calls the proxy-wasm metric functions itself rather than through the SDK:
// the SDK's metric methods panic with fmt.Sprintf on a failed call, and that one use
// of fmt costs the module about 40 KB (RATIONALE.md, "Why no fmt in the module?").
// The declarations are the SDK's own (proxywasm/internal/abi_hostcalls.go), so the
// module still imports each function once.

//export proxy_define_metric
func proxyDefineMetric(metricType uint32, nameData *byte, nameSize int, returnID *uint32) uint32

//export proxy_increment_metric
func proxyIncrementMetric(metricID uint32, offset int64) uint32

//export proxy_record_metric
func proxyRecordMetric(metricID uint32, value uint64) uint32

//export proxy_get_metric
func proxyGetMetric(metricID uint32, returnValue *uint64) uint32

// The proxy-wasm metric types (the ABI's MetricType).
const (
	metricTypeCounter   = 0
	metricTypeGauge     = 1
	metricTypeHistogram = 2
)

// hostCounter, hostGauge and hostHistogram are metric ids the host gave out.
type (
	hostCounter   uint32
	hostGauge     uint32
	hostHistogram uint32
)

// defineMetric asks the host for a metric's id. A refusal is logged, where the SDK
// would trap the VM, and the metric keeps id 0, whose updates the host refuses.
func defineMetric(metricType uint32, name string) uint32 {
	var id uint32
	if st := proxyDefineMetric(metricType, unsafe.StringData(name), len(name), &id); st != 0 {
		proxywasm.LogError("meshmirror: Envoy refused to define the metric " + name +
			" (proxy-wasm status " + strconv.FormatUint(uint64(st), 10) + "); it is not recorded")
	}
	return id
}

func defineCounter(name string) hostCounter {
	return hostCounter(defineMetric(metricTypeCounter, name))
}

func defineGauge(name string) hostGauge { return hostGauge(defineMetric(metricTypeGauge, name)) }

func defineHistogram(name string) hostHistogram {
	return hostHistogram(defineMetric(metricTypeHistogram, name))
}

// A failed update is dropped: a metric must not take the filter down with it.
func (c hostCounter) increment()        { proxyIncrementMetric(uint32(c), 1) }
func (g hostGauge) add(delta int64)     { proxyIncrementMetric(uint32(g), delta) }
func (h hostHistogram) record(v uint64) { proxyRecordMetric(uint32(h), v) }
func (g hostGauge) value() int64 {
	var v uint64
	proxyGetMetric(uint32(g), &v)
	return int64(v)
}
