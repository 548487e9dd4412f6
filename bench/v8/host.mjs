// A proxy-wasm host on V8, for the benchmarks (package bench, v8.go): the same
// modules, scenarios and request lives as the wazero benchmarks, run by Node's V8 as
// Envoy's V8 runs them (node --no-liftoff: proxy-wasm-cpp-host src/v8/v8.cc turns
// Liftoff off, so every function is compiled by TurboFan before it runs).
//
// It follows wasmhost (wasmhost/host.go, abi.go) in its Manual mode: one VM entered
// by one caller, ticks and callout answers run when the driver asks, contexts created,
// called and deleted in Envoy's order. Only what the benchmarks need is kept: no
// timers, no reconfiguration, no canary VM.
//
//   node --no-liftoff host.mjs spec.json
//
// The spec (written by bench.RunV8 and bench.CheckV8) names the modules (base64),
// the scenarios and the clusters' answers. In "bench" mode it prints one JSON line
// per round, scenario and module with the wall-clock and CPU nanoseconds per request;
// in "check" mode
// one line per scenario and module with the module's metrics after a few requests.
// Progress goes to stderr.

import { readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';

// The results a host function returns (proxy-wasm WasmResult).
const OK = 0, NOT_FOUND = 1, BAD_ARGUMENT = 2, CAS_MISMATCH = 8, INTERNAL_FAILURE = 10, UNIMPLEMENTED = 12;

// Map and buffer types of the ABI.
const MAP_REQUEST_HEADERS = 0, MAP_REQUEST_TRAILERS = 1, MAP_RESPONSE_HEADERS = 2,
  MAP_RESPONSE_TRAILERS = 3, MAP_CALL_RESPONSE_HEADERS = 6, MAP_CALL_RESPONSE_TRAILERS = 7;
const BUF_REQUEST_BODY = 0, BUF_RESPONSE_BODY = 1, BUF_CALL_RESPONSE_BODY = 4,
  BUF_VM_CONFIGURATION = 6, BUF_PLUGIN_CONFIGURATION = 7;

const METRIC_HISTOGRAM = 2;
const EMPTY = new Uint8Array(0);

// HeaderMap holds pairs and their proxy-wasm serialization, made when first read and
// kept until an edit: the scenarios send the same headers over and over, and the
// host's own work should stay small next to the module's.
class HeaderMap {
  constructor(pairs) { this.pairs = pairs; this.bytes = null; }

  serialized() {
    if (this.bytes === null) this.bytes = serializeMap(this.pairs);
    return this.bytes;
  }

  set(pairs) { this.pairs = pairs; this.bytes = null; }
}

// serializeMap encodes pairs as proxy-wasm does: a count, the sizes, then each key
// and value followed by a NUL. Header bytes are latin1 both ways, so any byte passes.
function serializeMap(pairs) {
  let size = 4;
  for (const [k, v] of pairs) size += 8 + k.length + v.length + 2;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(pairs.length, 0);
  let o = 4;
  for (const [k, v] of pairs) {
    out.writeUInt32LE(k.length, o);
    out.writeUInt32LE(v.length, o + 4);
    o += 8;
  }
  for (const [k, v] of pairs) {
    o += out.latin1Write(k, o); out[o++] = 0;
    o += out.latin1Write(v, o); out[o++] = 0;
  }
  return out;
}

// deserializeMap decodes a serialized map, or returns null when it is malformed. The
// map is decoded to one string first and cut into substrings (V8 makes them without
// copying): one call into Node's native code per map, not two per pair.
function deserializeMap(data) {
  if (data.length < 4) return data.length === 0 ? [] : null;
  const n = data.readUInt32LE(0);
  if (n > data.length / 8) return null;
  const text = data.latin1Slice(0, data.length);
  const pairs = new Array(n);
  let rest = 4 + 8 * n;
  for (let i = 0; i < n; i++) {
    const kl = data.readUInt32LE(4 + 8 * i), vl = data.readUInt32LE(8 + 8 * i);
    if (rest + kl + vl + 2 > data.length) return null;
    const key = text.substring(rest, rest + kl);
    pairs[i] = [UPPER.test(key) ? key.toLowerCase() : key, text.substring(rest + kl + 1, rest + kl + 1 + vl)];
    rest += kl + vl + 2;
  }
  return pairs;
}

const UPPER = /[A-Z]/;

function lookup(pairs, name) {
  for (const [k, v] of pairs) if (k === name) return v;
  return undefined;
}

function setHeader(pairs, name, value) {
  const out = pairs.filter(([k]) => k !== name);
  out.push([name, value]);
  return out;
}

// VM is one instance of a module with one plugin (root) context, driven like
// wasmhost's Manual host.
class VM {
  constructor(module, config, clusters) {
    this.clusters = clusters; // name -> {headers: HeaderMap pairs, trailers, body} or null
    this.config = Buffer.from(config);
    this.nextID = 1;
    this.roots = new Map();    // id -> {id, config}
    this.streams = new Map();  // id -> Stream
    this.calling = 0;
    this.effective = 0;
    this.current = null;       // the stream whose callback runs
    this.answer = null;        // the callout answer being delivered
    this.timers = new Map();   // root id -> tick period in ms
    this.nextToken = 0;
    this.pending = new Map();  // token -> root id
    this.held = [];            // callouts waiting for answer()
    this.metrics = new Map();  // id -> stat
    this.stats = new Map();    // name -> {kind, name, value: BigInt}
    this.shared = new Map();
    this.answered = 0;
    this.buf = null;

    const instance = new WebAssembly.Instance(module, this.imports(module));
    this.exports = instance.exports;
    this.memory = instance.exports.memory;
    this.alloc = this.exports.malloc ?? this.exports.proxy_on_memory_allocate;
    if (!this.alloc) throw new Error('the module exports neither malloc nor proxy_on_memory_allocate');
    const start = this.exports._initialize ?? this.exports._start;
    if (start) start();
    this.root = this.startRoot(this.config);
  }

  // Views of the linear memory, made again after it grows (its buffer changes).
  u8() {
    if (this.buf !== this.memory.buffer) {
      this.buf = this.memory.buffer;
      this.bytes = Buffer.from(this.buf);
      this.view = new DataView(this.buf);
    }
    return this.bytes;
  }

  dv() { this.u8(); return this.view; }

  read(ptr, size) {
    ptr >>>= 0; size >>>= 0; // i32 arguments arrive signed
    const mem = this.u8();
    if (ptr + size > mem.length) return null;
    return mem.subarray(ptr, ptr + size);
  }

  readString(ptr, size) {
    const b = this.read(ptr, size);
    return b === null ? null : b.latin1Slice(0, b.length);
  }

  writeU32(ptr, v) {
    ptr >>>= 0;
    const dv = this.dv();
    if (ptr + 4 > dv.byteLength) return BAD_ARGUMENT;
    dv.setUint32(ptr, v, true);
    return OK;
  }

  writeU64(ptr, v) {
    ptr >>>= 0;
    const dv = this.dv();
    if (ptr + 8 > dv.byteLength) return BAD_ARGUMENT;
    dv.setBigUint64(ptr, v, true);
    return OK;
  }

  // writeBytes copies data into memory the module allocates and writes its address
  // and size where the module asked: how every "get" of the ABI returns data.
  writeBytes(data, retPtr, retSize) {
    if (data.length === 0) return Math.max(this.writeU32(retPtr, 0), this.writeU32(retSize, 0));
    const ptr = this.alloc(data.length) >>> 0;
    const mem = this.u8();
    if (ptr === 0 || ptr + data.length > mem.length) return BAD_ARGUMENT;
    mem.set(data, ptr);
    return Math.max(this.writeU32(retPtr, ptr), this.writeU32(retSize, data.length));
  }

  // call runs an export of the module on behalf of context id.
  call(id, name, ...args) {
    const fn = this.exports[name];
    if (!fn) return 0; // the module does not handle this callback
    const calling = this.calling, effective = this.effective;
    this.calling = this.effective = id;
    try {
      const res = fn(...args);
      return res === undefined ? 0 : res;
    } catch (e) {
      throw new Error(`${name}: ${e.message}`);
    } finally {
      this.calling = calling;
      this.effective = effective;
    }
  }

  startRoot(config) {
    const r = { id: this.nextID++, config };
    this.roots.set(r.id, r);
    this.call(r.id, 'proxy_on_context_create', r.id, 0);
    if (!this.call(r.id, 'proxy_on_vm_start', r.id, 0)) throw new Error('proxy_on_vm_start failed');
    if (!this.call(r.id, 'proxy_on_configure', r.id, config.length)) {
      throw new Error('the plugin refused its configuration (proxy_on_configure)');
    }
    return r;
  }

  // effectiveRoot is the root context a host call acts for: that of the effective
  // context, or of the context of the call when the effective one is gone.
  effectiveRoot() {
    return this.rootOf(this.effective) ?? this.rootOf(this.calling);
  }

  rootOf(id) {
    const s = this.streams.get(id);
    return s ? s.root : this.roots.get(id);
  }

  headerMap(type) {
    if (type === MAP_CALL_RESPONSE_HEADERS && this.answer) return this.answer.headers;
    if (type === MAP_CALL_RESPONSE_TRAILERS && this.answer) return this.answer.trailers;
    const s = this.current;
    if (!s) return null;
    switch (type) {
      case MAP_REQUEST_HEADERS: return s.request;
      case MAP_REQUEST_TRAILERS: return s.trailers;
      case MAP_RESPONSE_HEADERS: return s.response;
      case MAP_RESPONSE_TRAILERS: return s.responseTrailers;
    }
    return null;
  }

  buffer(type) {
    switch (type) {
      case BUF_PLUGIN_CONFIGURATION: {
        const r = this.effectiveRoot();
        return r !== undefined ? r.config : null;
      }
      case BUF_VM_CONFIGURATION: return EMPTY;
      case BUF_CALL_RESPONSE_BODY: return this.answer ? this.answer.body : null;
      case BUF_REQUEST_BODY: case BUF_RESPONSE_BODY: return this.current ? this.current.body : null;
    }
    return null;
  }

  editHeader(type, keyPtr, keySize, valPtr, valSize, edit) {
    const m = this.headerMap(type);
    if (!m) return NOT_FOUND;
    const key = this.readString(keyPtr, keySize), value = this.readString(valPtr, valSize);
    if (key === null || value === null) return BAD_ARGUMENT;
    m.set(edit(m.pairs, key.toLowerCase(), value));
    return OK;
  }

  // imports binds every function the module imports: the proxy-wasm ABI as wasmhost
  // provides it, the WASI calls TinyGo's runtime makes, and for anything else a
  // function that answers Unimplemented (WASI: ENOSYS).
  imports(module) {
    const env = this.abi(), wasi = this.wasi();
    const out = { env: {}, wasi_snapshot_preview1: {} };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== 'function') throw new Error(`import ${imp.module}.${imp.name}: only functions are provided`);
      const table = imp.module === 'env' ? env : imp.module === 'wasi_snapshot_preview1' ? wasi : null;
      if (!table) throw new Error(`import ${imp.module}.${imp.name}: no such host module`);
      out[imp.module][imp.name] = table[imp.name] ??
        (imp.module === 'env' ? () => UNIMPLEMENTED : () => 52 /* ENOSYS */);
    }
    return out;
  }

  abi() {
    return {
      proxy_log: () => OK,
      proxy_get_log_level: (ret) => this.writeU32(ret, 0),
      proxy_get_status: (codePtr) => this.writeU32(codePtr, 0),
      proxy_set_tick_period_milliseconds: (period) => {
        const r = this.effectiveRoot();
        if (r !== undefined) this.timers.set(r.id, period >>> 0);
        return OK;
      },
      proxy_get_current_time_nanoseconds: (ret) =>
        this.writeU64(ret, BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))),

      proxy_define_metric: (kind, namePtr, nameSize, retID) => {
        const name = this.readString(namePtr, nameSize);
        if (name === null || kind > METRIC_HISTOGRAM) return BAD_ARGUMENT;
        let st = this.stats.get(name);
        if (!st) {
          st = { kind, name, value: 0n };
          this.stats.set(name, st);
        }
        const id = this.metrics.size + 1;
        this.metrics.set(id, st);
        return this.writeU32(retID, id);
      },
      proxy_increment_metric: (id, offset) => {
        const st = this.metrics.get(id);
        if (!st || st.kind === METRIC_HISTOGRAM) return BAD_ARGUMENT;
        st.value = BigInt.asUintN(64, st.value + offset);
        return OK;
      },
      proxy_record_metric: (id, value) => {
        const st = this.metrics.get(id);
        if (!st) return BAD_ARGUMENT;
        st.value = BigInt.asUintN(64, value);
        return OK;
      },
      proxy_get_metric: (id, ret) => {
        const st = this.metrics.get(id);
        if (!st || st.kind === METRIC_HISTOGRAM) return BAD_ARGUMENT;
        return this.writeU64(ret, st.value);
      },

      proxy_get_header_map_pairs: (type, retData, retSize) => {
        const m = this.headerMap(type);
        if (!m) return NOT_FOUND;
        return this.writeBytes(m.serialized(), retData, retSize);
      },
      proxy_get_header_map_value: (type, keyPtr, keySize, retData, retSize) => {
        const m = this.headerMap(type);
        if (!m) return NOT_FOUND;
        const key = this.readString(keyPtr, keySize);
        if (key === null) return BAD_ARGUMENT;
        const value = lookup(m.pairs, key.toLowerCase());
        if (value === undefined) return NOT_FOUND;
        return this.writeBytes(Buffer.from(value, 'latin1'), retData, retSize);
      },
      proxy_get_header_map_size: (type, retSize) => {
        const m = this.headerMap(type);
        if (!m) return NOT_FOUND;
        return this.writeU32(retSize, m.serialized().length);
      },
      proxy_add_header_map_value: (type, keyPtr, keySize, valPtr, valSize) =>
        this.editHeader(type, keyPtr, keySize, valPtr, valSize, (pairs, k, v) => [...pairs, [k, v]]),
      proxy_replace_header_map_value: (type, keyPtr, keySize, valPtr, valSize) =>
        this.editHeader(type, keyPtr, keySize, valPtr, valSize, setHeader),
      proxy_remove_header_map_value: (type, keyPtr, keySize) => {
        const m = this.headerMap(type);
        if (!m) return NOT_FOUND;
        const key = this.readString(keyPtr, keySize);
        if (key === null) return BAD_ARGUMENT;
        const k = key.toLowerCase();
        m.set(m.pairs.filter(([name]) => name !== k));
        return OK;
      },
      proxy_set_header_map_pairs: (type, dataPtr, dataSize) => {
        const m = this.headerMap(type), data = this.read(dataPtr, dataSize);
        if (!m || data === null) return NOT_FOUND;
        const pairs = deserializeMap(data);
        if (pairs === null) return BAD_ARGUMENT;
        m.set(pairs);
        return OK;
      },

      proxy_get_buffer_bytes: (type, start, length, retData, retSize) => {
        const buf = this.buffer(type);
        if (buf === null) return NOT_FOUND;
        start >>>= 0; length >>>= 0;
        if (start > buf.length) return BAD_ARGUMENT;
        const end = Math.min(start + length, buf.length);
        if (end === start) return OK; // nothing written, as Envoy does for an empty range
        return this.writeBytes(buf.subarray(start, end), retData, retSize);
      },
      proxy_get_buffer_status: (type, retLen, retFlags) => {
        const buf = this.buffer(type);
        if (buf === null) return NOT_FOUND;
        return Math.max(this.writeU32(retLen, buf.length), this.writeU32(retFlags, 0));
      },
      proxy_set_buffer_bytes: () => UNIMPLEMENTED, // meshmirror never changes a body

      proxy_http_call: (upPtr, upSize, hdrPtr, hdrSize, bodyPtr, bodySize, trlPtr, trlSize, timeoutMs, retToken) => {
        const cluster = this.readString(upPtr, upSize), hdr = this.read(hdrPtr, hdrSize);
        const body = this.read(bodyPtr, bodySize), trl = this.read(trlPtr, trlSize);
        if (cluster === null || hdr === null || body === null || trl === null) return BAD_ARGUMENT;
        let headers = deserializeMap(hdr);
        const trailers = deserializeMap(trl);
        if (headers === null || trailers === null) return BAD_ARGUMENT;
        const r = this.effectiveRoot();
        if (r === undefined) return INTERNAL_FAILURE;
        // Envoy's Context::httpCall: a known cluster, a timeout, the three pseudo-headers.
        if (!(cluster in this.clusters) || (timeoutMs | 0) < 0) return BAD_ARGUMENT;
        for (const name of [':path', ':method', ':authority']) {
          if (lookup(headers, name) === undefined) return BAD_ARGUMENT;
        }
        const answer = this.clusters[cluster];
        if (answer === null) return INTERNAL_FAILURE; // no healthy endpoint
        if (body.length > 0) headers = setHeader(headers, 'content-length', String(body.length));
        const token = ++this.nextToken;
        // The body is copied out of the VM, as Envoy copies it into its request.
        this.held.push({ token, answer, headers, body: Buffer.from(body), trailers });
        this.pending.set(token, r.id);
        return this.writeU32(retToken, token);
      },

      proxy_set_effective_context: (id) => {
        if (!this.streams.has(id) && !this.roots.has(id)) return BAD_ARGUMENT;
        this.effective = id;
        return OK;
      },
      // This host never ends a root context, so none waits for proxy_done.
      proxy_done: () => NOT_FOUND,
      proxy_continue_stream: () => OK,
      proxy_close_stream: () => OK,
      proxy_continue_request: () => OK,
      proxy_continue_response: () => OK,
      proxy_clear_route_cache: () => OK,
      proxy_send_local_response: () => UNIMPLEMENTED, // meshmirror never answers for the upstream
      proxy_get_property: () => NOT_FOUND,
      proxy_set_property: () => OK,
      proxy_get_shared_data: (keyPtr, keySize, retData, retSize, retCas) => {
        const key = this.readString(keyPtr, keySize);
        if (key === null) return BAD_ARGUMENT;
        const d = this.shared.get(key);
        if (!d) return NOT_FOUND;
        const st = this.writeBytes(d.value, retData, retSize);
        return st !== OK ? st : this.writeU32(retCas, d.cas);
      },
      proxy_set_shared_data: (keyPtr, keySize, valPtr, valSize, cas) => {
        const key = this.readString(keyPtr, keySize), value = this.read(valPtr, valSize);
        if (key === null || value === null) return BAD_ARGUMENT;
        const d = this.shared.get(key) ?? { cas: 0 };
        if (cas !== 0 && cas >>> 0 !== d.cas) return CAS_MISMATCH;
        this.shared.set(key, { value: Buffer.from(value), cas: d.cas + 1 });
        return OK;
      },
      proxy_call_foreign_function: () => NOT_FOUND,
    };
  }

  // wasi gives what wazero's WASI gives the module: real clocks and randomness, no
  // arguments or environment, standard output and error discarded.
  wasi() {
    return {
      clock_time_get: (id, _precision, ret) => {
        const ns = id === 0 ? BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))
          : process.hrtime.bigint();
        return this.writeU64(ret, ns) === OK ? 0 : 28 /* EINVAL */;
      },
      random_get: (ptr, size) => {
        const b = this.read(ptr, size);
        if (b === null) return 21; // EFAULT
        randomFillSync(b);
        return 0;
      },
      args_sizes_get: (argc, size) => (this.writeU32(argc, 0), this.writeU32(size, 0), 0),
      args_get: () => 0,
      environ_sizes_get: (n, size) => (this.writeU32(n, 0), this.writeU32(size, 0), 0),
      environ_get: () => 0,
      fd_write: (_fd, iovs, iovsLen, nwritten) => {
        const dv = this.dv();
        let n = 0;
        for (let i = 0; i < iovsLen; i++) n += dv.getUint32(iovs + 8 * i + 4, true);
        this.writeU32(nwritten, n);
        return 0;
      },
      proc_exit: (code) => { throw new Error(`proc_exit(${code})`); },
    };
  }

  tickPeriod() {
    let shortest = 0;
    for (const p of this.timers.values()) if (p > 0 && (shortest === 0 || p < shortest)) shortest = p;
    return shortest;
  }

  // tick runs the tick of every root context whose timer is set.
  tick() {
    const ids = [];
    for (const [id, p] of this.timers) if (p > 0) ids.push(id);
    if (ids.length > 1) ids.sort((a, b) => a - b);
    for (const id of ids) if (this.roots.has(id)) this.call(id, 'proxy_on_tick', id);
  }

  // answerHeld delivers the answer of every callout held, in the order they were made;
  // those made meanwhile wait for the next call.
  answerHeld() {
    const batch = this.held;
    this.held = [];
    let answered = 0;
    for (const c of batch) {
      const root = this.pending.get(c.token);
      if (root === undefined) continue;
      this.pending.delete(c.token);
      answered++;
      const a = c.answer;
      // A map of its own per delivery, so that an edit by the module stays in it.
      this.answer = { headers: new HeaderMap(a.headers.pairs), trailers: new HeaderMap(a.trailers.pairs), body: a.body };
      this.answer.headers.bytes = a.headers.serialized();
      try {
        this.call(root, 'proxy_on_http_call_response', root, c.token, a.headers.pairs.length, a.body.length,
          a.trailers.pairs.length);
      } finally {
        this.answer = null;
      }
    }
    return answered;
  }

  // enter runs a stream callback with s current.
  enter(s, name, ...args) {
    this.current = s;
    try {
      return this.call(s.id, name, s.id, ...args);
    } finally {
      this.current = null;
      s.body = null;
    }
  }

  // do runs one request's whole life through the module, as bench.VM.Do does: a new
  // stream, its headers, body chunks and trailers, the response if any, the end of
  // the stream, the tick the module asked for, and the copies' answers.
  do(r) {
    const s = { id: this.nextID++, root: this.root, request: new HeaderMap(r.headers.pairs), trailers: new HeaderMap([]),
      response: new HeaderMap([]), responseTrailers: new HeaderMap([]), body: null };
    s.request.bytes = r.headers.serialized();
    this.streams.set(s.id, s);
    this.call(s.id, 'proxy_on_context_create', s.id, this.root.id);
    const headersEnd = r.body.length === 0 && r.trailers === null;
    this.enter(s, 'proxy_on_request_headers', r.headers.pairs.length, headersEnd ? 1 : 0);
    for (let i = 0; i < r.body.length; i++) {
      s.body = r.body[i];
      this.enter(s, 'proxy_on_request_body', r.body[i].length, i === r.body.length - 1 && r.trailers === null ? 1 : 0);
    }
    if (r.trailers !== null) {
      s.trailers = new HeaderMap(r.trailers.pairs);
      this.enter(s, 'proxy_on_request_trailers', r.trailers.pairs.length);
    }
    if (r.responseHeaders !== null) {
      s.response = new HeaderMap(r.responseHeaders.pairs);
      s.response.bytes = r.responseHeaders.serialized();
      this.enter(s, 'proxy_on_response_headers', r.responseHeaders.pairs.length, r.responseBody.length === 0 ? 1 : 0);
      for (let i = 0; i < r.responseBody.length; i++) {
        s.body = r.responseBody[i];
        this.enter(s, 'proxy_on_response_body', r.responseBody[i].length, i === r.responseBody.length - 1 ? 1 : 0);
      }
    }
    this.current = s;
    try {
      for (const fn of ['proxy_on_log', 'proxy_on_done', 'proxy_on_delete']) this.call(s.id, fn, s.id);
    } finally {
      this.current = null;
      this.streams.delete(s.id);
    }
    if (this.tickPeriod() > 0) this.tick();
    this.answered += this.answerHeld();
  }

  metric(name) {
    const st = this.stats.get(name);
    return st ? st.value : undefined;
  }
}

// request turns a scenario's request from the spec into HeaderMaps and Buffers.
function request(r) {
  const chunks = (list) => (list ?? []).map((b) => Buffer.from(b, 'base64'));
  const map = (pairs) => (pairs ? new HeaderMap(pairs.map(([k, v]) => [k, v])) : null);
  return { headers: map(r.Headers ?? []), body: chunks(r.Body), trailers: map(r.Trailers),
    responseHeaders: map(r.ResponseHeaders), responseBody: chunks(r.ResponseBody) };
}

function clustersOf(sc) {
  const out = {};
  for (const [name, a] of Object.entries(sc.Clusters)) {
    out[name] = a === null ? null : { headers: new HeaderMap(a.Headers ?? []), trailers: new HeaderMap(a.Trailers ?? []),
      body: a.Body ? Buffer.from(a.Body, 'base64') : EMPTY };
  }
  return out;
}

// start is bench.Start: a VM whose plugin took its whole configuration.
function start(module, sc, clusters) {
  const vm = new VM(module, sc.Config, clusters);
  const errors = vm.metric('meshmirror.config_errors');
  if (errors !== undefined && errors !== 0n) {
    throw new Error(`the plugin took none of its configuration (meshmirror.config_errors = ${errors})`);
  }
  return vm;
}

function now() { return process.hrtime.bigint(); }

// measure runs warmup requests, then requests in batches that double (up to 4096)
// until benchtime has passed, as bench.Measure does, and returns the wall-clock and
// CPU nanoseconds per request and their count.
function measure(vm, req, warmup, benchtimeNs) {
  for (let i = 0; i < warmup; i++) vm.do(req);
  let n = 0, batch = 1;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  let elapsed = 0n;
  for (;;) {
    for (let i = 0; i < batch; i++) vm.do(req);
    n += batch;
    elapsed = now() - t0;
    if (elapsed >= benchtimeNs) break;
    batch = Math.min(batch * 2, 4096);
  }
  const cpu = process.cpuUsage(cpu0);
  return { ns: Number(elapsed) / n, cpuNs: (cpu.user + cpu.system) * 1000 / n, n };
}

function main() {
  const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const modules = spec.Modules.map((m) => ({ name: m.Name, module: new WebAssembly.Module(Buffer.from(m.Wasm, 'base64')) }));
  const scenarios = spec.Scenarios.map((sc) => ({ ...sc, req: request(sc.Request), clusters: clustersOf(sc) }));
  const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  if (spec.Mode === 'check') {
    for (const sc of scenarios) {
      for (const m of modules) {
        const vm = start(m.module, sc, sc.clusters);
        for (let i = 0; i < spec.Requests; i++) vm.do(sc.req);
        const metrics = {};
        for (const [name, st] of vm.stats) metrics[name] = { Kind: st.kind, Value: st.value.toString() };
        emit({ Scenario: sc.Name, Module: m.name, Answered: vm.answered, Metrics: metrics,
          MemoryBytes: vm.memory.buffer.byteLength });
      }
    }
    return;
  }
  const benchtimeNs = BigInt(spec.BenchtimeNs);
  for (let round = 1; round <= spec.Rounds; round++) {
    for (const sc of scenarios) {
      for (const m of modules) {
        const res = measure(start(m.module, sc, sc.clusters), sc.req, spec.Warmup, benchtimeNs);
        emit({ Round: round, Scenario: sc.Name, Module: m.name, NsPerRequest: res.ns, CPUNsPerRequest: res.cpuNs,
          Requests: res.n });
      }
      process.stderr.write(`v8: round ${round}/${spec.Rounds}: ${sc.Name} done\n`);
    }
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`v8 host: ${e.stack ?? e}\n`);
  process.exit(1);
}
