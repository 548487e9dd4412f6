package wasmhost

import (
	"context"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Metric types of proxy_define_metric.
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// exportABI defines the "env" host module: every proxy_* function an Envoy since
// 2022 provides. Each runs with h.mu held, since the module only calls them from a
// callback the host made.
func (h *Host) exportABI(ctx context.Context) error {
	b := h.runtime.NewHostModuleBuilder("env")
	fn := func(name string, f any) { export(b, "proxy_"+name, f) }
	unimplemented := func(m api.Module) uint32 { return uint32(StatusUnimplemented) }

	fn("log", func(_ context.Context, m api.Module, level, ptr, size uint32) uint32 {
		msg, ok := m.Memory().Read(ptr, size)
		if !ok {
			return uint32(StatusBadArgument)
		}
		h.opts.Log(level, string(msg))
		return uint32(StatusOK)
	})
	fn("get_log_level", func(_ context.Context, m api.Module, retPtr uint32) uint32 {
		return h.writeU32(m, retPtr, 0) // trace: the module logs everything, Log filters
	})
	fn("get_status", func(_ context.Context, m api.Module, codePtr, msgPtrPtr, msgSizePtr uint32) uint32 {
		return h.writeU32(m, codePtr, 0)
	})
	fn("set_tick_period_milliseconds", func(_ context.Context, m api.Module, period uint32) uint32 {
		// The timer of the effective context's root (ContextBase::setTimerPeriod).
		if r := h.effectiveRoot(); r != nil {
			h.setTimerPeriod(r.id, time.Duration(period)*time.Millisecond)
		}
		return uint32(StatusOK)
	})
	fn("get_current_time_nanoseconds", func(_ context.Context, m api.Module, retPtr uint32) uint32 {
		if !m.Memory().WriteUint64Le(retPtr, uint64(time.Now().UnixNano())) {
			return uint32(StatusBadArgument)
		}
		return uint32(StatusOK)
	})

	fn("define_metric", func(_ context.Context, m api.Module, kind, namePtr, nameSize, retID uint32) uint32 {
		name, ok := m.Memory().Read(namePtr, nameSize)
		if !ok || kind > metricHistogram {
			return uint32(StatusBadArgument)
		}
		// Each definition gets an id of its own, and every id of the same name
		// addresses one stat in Envoy's store, whichever root context defined it
		// (Envoy's Context::defineMetric, Stats::Utility::counterFromElements).
		st := h.stats[string(name)]
		if st == nil {
			st = &metric{kind: kind, name: string(name)}
			h.stats[st.name] = st
		}
		id := uint32(len(h.metrics) + 1)
		h.metrics[id] = st
		return h.writeU32(m, retID, id)
	})
	fn("increment_metric", func(_ context.Context, m api.Module, id uint32, offset int64) uint32 {
		mt, ok := h.metrics[id]
		if !ok || mt.kind == metricHistogram {
			return uint32(StatusBadArgument)
		}
		mt.value = uint64(int64(mt.value) + offset)
		return uint32(StatusOK)
	})
	fn("record_metric", func(_ context.Context, m api.Module, id uint32, value uint64) uint32 {
		mt, ok := h.metrics[id]
		if !ok {
			return uint32(StatusBadArgument)
		}
		mt.value = value
		if mt.kind == metricHistogram {
			mt.record(value)
		}
		return uint32(StatusOK)
	})
	fn("get_metric", func(_ context.Context, m api.Module, id, retPtr uint32) uint32 {
		mt, ok := h.metrics[id]
		if !ok || mt.kind == metricHistogram {
			return uint32(StatusBadArgument)
		}
		if !m.Memory().WriteUint64Le(retPtr, mt.value) {
			return uint32(StatusBadArgument)
		}
		return uint32(StatusOK)
	})

	fn("get_header_map_pairs", func(ctx context.Context, m api.Module, mapType, retData, retSize uint32) uint32 {
		pairs := h.headerMap(mapType)
		if pairs == nil {
			return uint32(StatusNotFound)
		}
		return h.writeBytes(ctx, m, serializeMap(*pairs), retData, retSize)
	})
	fn("get_header_map_value", func(ctx context.Context, m api.Module, mapType, keyPtr, keySize, retData, retSize uint32) uint32 {
		pairs, key, st := h.mapAndKey(m, mapType, keyPtr, keySize)
		if st != StatusOK {
			return uint32(st)
		}
		value, ok := lookup(*pairs, key)
		if !ok {
			return uint32(StatusNotFound)
		}
		return h.writeBytes(ctx, m, []byte(value), retData, retSize)
	})
	fn("get_header_map_size", func(_ context.Context, m api.Module, mapType, retSize uint32) uint32 {
		pairs := h.headerMap(mapType)
		if pairs == nil {
			return uint32(StatusNotFound)
		}
		return h.writeU32(m, retSize, uint32(len(serializeMap(*pairs))))
	})
	fn("add_header_map_value", func(_ context.Context, m api.Module, mapType, keyPtr, keySize, valPtr, valSize uint32) uint32 {
		return h.editHeader(m, mapType, keyPtr, keySize, valPtr, valSize, func(pairs [][2]string, key, value string) [][2]string {
			return append(pairs, [2]string{key, value})
		})
	})
	fn("replace_header_map_value", func(_ context.Context, m api.Module, mapType, keyPtr, keySize, valPtr, valSize uint32) uint32 {
		return h.editHeader(m, mapType, keyPtr, keySize, valPtr, valSize, setHeader)
	})
	fn("remove_header_map_value", func(_ context.Context, m api.Module, mapType, keyPtr, keySize uint32) uint32 {
		pairs, key, st := h.mapAndKey(m, mapType, keyPtr, keySize)
		if st != StatusOK {
			return uint32(st)
		}
		kept := (*pairs)[:0]
		for _, kv := range *pairs {
			if kv[0] != key {
				kept = append(kept, kv)
			}
		}
		*pairs = kept
		return uint32(StatusOK)
	})
	fn("set_header_map_pairs", func(_ context.Context, m api.Module, mapType, dataPtr, dataSize uint32) uint32 {
		pairs := h.headerMap(mapType)
		data, ok := m.Memory().Read(dataPtr, dataSize)
		if pairs == nil || !ok {
			return uint32(StatusNotFound)
		}
		decoded, ok := deserializeMap(data)
		if !ok {
			return uint32(StatusBadArgument)
		}
		*pairs = lowerNames(decoded)
		return uint32(StatusOK)
	})

	fn("get_buffer_bytes", func(ctx context.Context, m api.Module, bufType, start, length, retData, retSize uint32) uint32 {
		buf, ok := h.buffer(bufType)
		if !ok {
			return uint32(StatusNotFound)
		}
		if uint64(start) > uint64(len(buf)) {
			return uint32(StatusBadArgument)
		}
		end := min(uint64(start)+uint64(length), uint64(len(buf)))
		if end == uint64(start) {
			return uint32(StatusOK) // nothing written, as Envoy does for an empty range
		}
		return h.writeBytes(ctx, m, buf[start:end], retData, retSize)
	})
	fn("get_buffer_status", func(_ context.Context, m api.Module, bufType, retLen, retFlags uint32) uint32 {
		buf, ok := h.buffer(bufType)
		if !ok {
			return uint32(StatusNotFound)
		}
		if st := h.writeU32(m, retLen, uint32(len(buf))); st != uint32(StatusOK) {
			return st
		}
		return h.writeU32(m, retFlags, 0)
	})
	fn("set_buffer_bytes", func(_ context.Context, m api.Module, bufType, start, length, dataPtr, dataSize uint32) uint32 {
		return uint32(StatusUnimplemented) // meshmirror never changes a body
	})

	fn("http_call", func(_ context.Context, m api.Module, upPtr, upSize, hdrPtr, hdrSize, bodyPtr, bodySize,
		trlPtr, trlSize, timeoutMs, retToken uint32) uint32 {
		mem := m.Memory()
		cluster, ok1 := mem.Read(upPtr, upSize)
		hdrData, ok2 := mem.Read(hdrPtr, hdrSize)
		body, ok3 := mem.Read(bodyPtr, bodySize)
		trlData, ok4 := mem.Read(trlPtr, trlSize)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return uint32(StatusBadArgument)
		}
		headers, okH := deserializeMap(hdrData)
		trailers, okT := deserializeMap(trlData)
		if !okH || !okT {
			return uint32(StatusBadArgument)
		}
		token, st := h.httpCall(h.effectiveRoot(), string(cluster), lowerNames(headers), append([]byte(nil), body...),
			lowerNames(trailers), timeoutMs)
		if st != StatusOK {
			return uint32(st)
		}
		return h.writeU32(m, retToken, token)
	})

	fn("set_effective_context", func(_ context.Context, m api.Module, id uint32) uint32 {
		// BadArgument for a context that does not exist (cpp-host src/exports.cc).
		if _, ok := h.streams[id]; !ok && h.roots[id] == nil {
			return uint32(StatusBadArgument)
		}
		h.effective = id
		return uint32(StatusOK)
	})
	fn("done", func(_ context.Context, m api.Module) uint32 { return uint32(h.done()) })
	fn("continue_stream", func(_ context.Context, m api.Module, streamType uint32) uint32 { return uint32(StatusOK) })
	fn("close_stream", func(_ context.Context, m api.Module, streamType uint32) uint32 { return uint32(StatusOK) })
	fn("continue_request", func(_ context.Context, m api.Module) uint32 { return uint32(StatusOK) })
	fn("continue_response", func(_ context.Context, m api.Module) uint32 { return uint32(StatusOK) })
	fn("clear_route_cache", func(_ context.Context, m api.Module) uint32 { return uint32(StatusOK) })
	fn("send_local_response", func(_ context.Context, m api.Module, status, detailPtr, detailSize, bodyPtr, bodySize,
		hdrPtr, hdrSize, grpcStatus uint32) uint32 {
		return uint32(StatusUnimplemented) // meshmirror never answers for the upstream
	})
	fn("get_property", func(_ context.Context, m api.Module, pathPtr, pathSize, retData, retSize uint32) uint32 {
		return uint32(StatusNotFound)
	})
	fn("set_property", func(_ context.Context, m api.Module, pathPtr, pathSize, dataPtr, dataSize uint32) uint32 {
		return uint32(StatusOK)
	})
	fn("get_shared_data", func(ctx context.Context, m api.Module, keyPtr, keySize, retData, retSize, retCas uint32) uint32 {
		key, ok := m.Memory().Read(keyPtr, keySize)
		if !ok {
			return uint32(StatusBadArgument)
		}
		d, found := h.sharedData[string(key)]
		if !found {
			return uint32(StatusNotFound)
		}
		if st := h.writeBytes(ctx, m, d.value, retData, retSize); st != uint32(StatusOK) {
			return st
		}
		return h.writeU32(m, retCas, d.cas)
	})
	fn("set_shared_data", func(_ context.Context, m api.Module, keyPtr, keySize, valPtr, valSize, cas uint32) uint32 {
		key, ok1 := m.Memory().Read(keyPtr, keySize)
		value, ok2 := m.Memory().Read(valPtr, valSize)
		if !ok1 || !ok2 {
			return uint32(StatusBadArgument)
		}
		d := h.sharedData[string(key)]
		if cas != 0 && cas != d.cas {
			return uint32(StatusCasMismatch)
		}
		h.sharedData[string(key)] = shared{value: append([]byte(nil), value...), cas: d.cas + 1}
		return uint32(StatusOK)
	})
	for name, f := range map[string]any{
		"register_shared_queue": func(_ context.Context, m api.Module, a, b, c uint32) uint32 { return unimplemented(m) },
		"resolve_shared_queue":  func(_ context.Context, m api.Module, a, b, c, d, e uint32) uint32 { return unimplemented(m) },
		"dequeue_shared_queue":  func(_ context.Context, m api.Module, a, b, c uint32) uint32 { return unimplemented(m) },
		"enqueue_shared_queue":  func(_ context.Context, m api.Module, a, b, c uint32) uint32 { return unimplemented(m) },
		"grpc_call": func(_ context.Context, m api.Module, a, b, c, d, e, f, g, h, i, j, k, l uint32) uint32 {
			return unimplemented(m)
		},
		"grpc_stream": func(_ context.Context, m api.Module, a, b, c, d, e, f, g, h, i uint32) uint32 {
			return unimplemented(m)
		},
		"grpc_close":            func(_ context.Context, m api.Module, a uint32) uint32 { return unimplemented(m) },
		"grpc_cancel":           func(_ context.Context, m api.Module, a uint32) uint32 { return unimplemented(m) },
		"grpc_send":             func(_ context.Context, m api.Module, a, b, c, d uint32) uint32 { return unimplemented(m) },
		"call_foreign_function": func(_ context.Context, m api.Module, a, b, c, d, e, f uint32) uint32 { return uint32(StatusNotFound) },
	} {
		fn(name, f)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// export defines a host function. The signatures the ABI uses are bound without
// reflection: wazero's WithFunc calls through package reflect, which costs about a
// microsecond per call, many times what Envoy's host calls cost, and would swamp what
// the benchmarks measure. Other signatures (unimplemented gRPC calls) use WithFunc.
func export(b wazero.HostModuleBuilder, name string, f any) {
	u32 := func(n int) []api.ValueType {
		types := make([]api.ValueType, n)
		for i := range types {
			types[i] = api.ValueTypeI32
		}
		return types
	}
	a := func(s []uint64, i int) uint32 { return uint32(s[i]) }
	var g api.GoModuleFunc
	var params []api.ValueType
	switch f := f.(type) {
	case func(context.Context, api.Module) uint32:
		params, g = u32(0), func(c context.Context, m api.Module, s []uint64) { s[0] = uint64(f(c, m)) }
	case func(context.Context, api.Module, uint32) uint32:
		params, g = u32(1), func(c context.Context, m api.Module, s []uint64) { s[0] = uint64(f(c, m, a(s, 0))) }
	case func(context.Context, api.Module, uint32, uint32) uint32:
		params, g = u32(2), func(c context.Context, m api.Module, s []uint64) { s[0] = uint64(f(c, m, a(s, 0), a(s, 1))) }
	case func(context.Context, api.Module, uint32, uint32, uint32) uint32:
		params, g = u32(3), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2)))
		}
	case func(context.Context, api.Module, uint32, uint32, uint32, uint32) uint32:
		params, g = u32(4), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2), a(s, 3)))
		}
	case func(context.Context, api.Module, uint32, uint32, uint32, uint32, uint32) uint32:
		params, g = u32(5), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2), a(s, 3), a(s, 4)))
		}
	case func(context.Context, api.Module, uint32, uint32, uint32, uint32, uint32, uint32) uint32:
		params, g = u32(6), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2), a(s, 3), a(s, 4), a(s, 5)))
		}
	case func(context.Context, api.Module, uint32, uint32, uint32, uint32, uint32, uint32, uint32) uint32:
		params, g = u32(7), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2), a(s, 3), a(s, 4), a(s, 5), a(s, 6)))
		}
	case func(context.Context, api.Module, uint32, uint32, uint32, uint32, uint32, uint32, uint32, uint32, uint32, uint32) uint32:
		params, g = u32(10), func(c context.Context, m api.Module, s []uint64) {
			s[0] = uint64(f(c, m, a(s, 0), a(s, 1), a(s, 2), a(s, 3), a(s, 4), a(s, 5), a(s, 6), a(s, 7), a(s, 8), a(s, 9)))
		}
	case func(context.Context, api.Module, uint32, int64) uint32:
		params = []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}
		g = func(c context.Context, m api.Module, s []uint64) { s[0] = uint64(f(c, m, a(s, 0), int64(s[1]))) }
	case func(context.Context, api.Module, uint32, uint64) uint32:
		params = []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}
		g = func(c context.Context, m api.Module, s []uint64) { s[0] = uint64(f(c, m, a(s, 0), s[1])) }
	default:
		b.NewFunctionBuilder().WithFunc(f).Export(name)
		return
	}
	b.NewFunctionBuilder().WithGoModuleFunction(g, params, u32(1)).Export(name)
}

// editHeader applies edit to a header map with the key and value the module passed.
func (h *Host) editHeader(m api.Module, mapType, keyPtr, keySize, valPtr, valSize uint32,
	edit func(pairs [][2]string, key, value string) [][2]string) uint32 {
	pairs, key, st := h.mapAndKey(m, mapType, keyPtr, keySize)
	if st != StatusOK {
		return uint32(st)
	}
	value, ok := m.Memory().Read(valPtr, valSize)
	if !ok {
		return uint32(StatusBadArgument)
	}
	*pairs = edit(*pairs, key, string(value))
	return uint32(StatusOK)
}

func (h *Host) mapAndKey(m api.Module, mapType, keyPtr, keySize uint32) (*[][2]string, string, Status) {
	pairs := h.headerMap(mapType)
	if pairs == nil {
		return nil, "", StatusNotFound
	}
	key, ok := m.Memory().Read(keyPtr, keySize)
	if !ok {
		return nil, "", StatusBadArgument
	}
	return pairs, strings.ToLower(string(key)), StatusOK
}

func (h *Host) writeU32(m api.Module, ptr, v uint32) uint32 {
	if !m.Memory().WriteUint32Le(ptr, v) {
		return uint32(StatusBadArgument)
	}
	return uint32(StatusOK)
}

// writeBytes copies data into memory the module allocates, and writes its address
// and size where the module asked: how every "get" of the ABI returns data.
func (h *Host) writeBytes(ctx context.Context, m api.Module, data []byte, retPtr, retSize uint32) uint32 {
	if len(data) == 0 { // nothing to allocate: a null pointer and a zero size
		return max(h.writeU32(m, retPtr, 0), h.writeU32(m, retSize, 0))
	}
	res, err := h.alloc.Call(ctx, uint64(len(data)))
	if err != nil || len(res) == 0 {
		return uint32(StatusBadArgument)
	}
	ptr := uint32(res[0])
	mem := m.Memory()
	if !mem.Write(ptr, data) || !mem.WriteUint32Le(retPtr, ptr) || !mem.WriteUint32Le(retSize, uint32(len(data))) {
		return uint32(StatusBadArgument)
	}
	return uint32(StatusOK)
}
