package wasmhost

import (
	"context"
	"fmt"
	"sort"
)

// root is a plugin (root) context: one per configuration.
type root struct {
	id      uint32
	config  []byte
	streams int  // streams that hold it, as a stream context holds its plugin handle
	ending  bool // proxy_on_done was called
	waiting bool // proxy_on_done returned false: proxy_done ends it (pending_done_)
}

// startRoot creates and configures a root context, as WasmBase::start and configure
// do (ContextBase::onStart, onConfigure). h.mu is held.
func (h *Host) startRoot(config []byte) (*root, error) {
	r := &root{id: h.nextID, config: config}
	h.nextID++
	h.roots[r.id] = r
	if _, err := h.call(r.id, "proxy_on_context_create", uint64(r.id), 0); err != nil {
		return nil, err
	}
	if ok, err := h.callBool(r.id, "proxy_on_vm_start", uint64(r.id), 0); err != nil || !ok {
		return nil, fmt.Errorf("proxy_on_vm_start failed: %v", err)
	}
	if ok, err := h.callBool(r.id, "proxy_on_configure", uint64(r.id), uint64(len(config))); err != nil || !ok {
		h.shutdown(r)
		return nil, fmt.Errorf("the plugin refused its configuration (proxy_on_configure: %v)", err)
	}
	return r, nil
}

// Reconfigure applies a new plugin configuration as Envoy applies a changed filter
// configuration with the same code: a canary checks it, then a new root context
// starts in this VM and takes the new streams, and the old one ends once its last
// stream has ended (PluginHandleBase's destructor calls WasmBase::startShutdown). A
// configuration the plugin refuses is an error and changes nothing.
func (h *Host) Reconfigure(ctx context.Context, config []byte) error {
	if err := h.canary(ctx, config); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	r, err := h.startRoot(config)
	if err != nil {
		return err
	}
	old := h.active
	h.active = r
	if old.streams == 0 {
		h.shutdown(old)
	}
	return nil
}

// shutdown ends a replaced root context as WasmBase::startShutdown does:
// proxy_on_done, and proxy_on_delete at once if it returned true; otherwise the
// context lives on until it calls proxy_done. h.mu is held.
func (h *Host) shutdown(r *root) {
	r.ending = true
	done, err := h.callBool(r.id, "proxy_on_done", uint64(r.id))
	if err != nil {
		h.opts.Log(4, err.Error())
	}
	if done {
		h.deleteRoot(r)
	} else {
		r.waiting = true
	}
}

// deleteRoot calls proxy_on_delete and destroys the context: its callouts are
// cancelled and never answered (Envoy's Context::~Context). Its timer stays, as
// Envoy's timers are kept by root context id. h.mu is held.
func (h *Host) deleteRoot(r *root) {
	if _, err := h.call(r.id, "proxy_on_delete", uint64(r.id)); err != nil {
		h.opts.Log(4, err.Error())
	}
	delete(h.roots, r.id)
	for token, p := range h.pending {
		if p.root == r.id {
			p.cancel()
			delete(h.pending, token)
		}
	}
}

// RootContexts returns the ids of the root contexts that exist, oldest first: the
// last one runs the current configuration, the others are ending.
func (h *Host) RootContexts() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]uint32, 0, len(h.roots))
	for id := range h.roots {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// effectiveRoot is the root context that a host call of the module acts for: that of
// the effective context, or of the context of the call when the effective one is
// gone (cpp-host's contextOrEffectiveContext()->root_context()). h.mu is held.
func (h *Host) effectiveRoot() *root {
	for _, id := range [2]uint32{h.effective, h.calling} {
		if s, ok := h.streams[id]; ok {
			return s.root
		}
		if r, ok := h.roots[id]; ok {
			return r
		}
	}
	return nil
}

// done is proxy_done: a root context that deferred its end in proxy_on_done is
// deleted once the current VM call returns, so that proxy_on_delete does not run
// inside the module's call (WasmBase::done); any other context gets NotFound. h.mu is
// held.
func (h *Host) done() Status {
	r := h.effectiveRoot()
	if r == nil || !r.waiting {
		return StatusNotFound
	}
	r.waiting = false
	h.after = append(h.after, func() { h.deleteRoot(r) })
	return StatusOK
}
