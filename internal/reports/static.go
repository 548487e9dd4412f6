package reports

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// pageCSS is the page's stylesheet, served at /static/page.css: the page's
// Content-Security-Policy allows no inline style.
//
//go:embed static/page.css
var pageCSS []byte

// pageCSSTag is pageCSS's ETag: the page reloads every RefreshSeconds, and its
// stylesheet is then answered 304 until a new receiver serves another.
var pageCSSTag = func() string {
	sum := sha256.Sum256(pageCSS)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// routeStatic adds the files the page loads to s's routes.
func (s *Server) routeStatic() {
	s.mux.HandleFunc("GET /static/page.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", pageCSSTag)
		http.ServeContent(w, r, "page.css", time.Time{}, bytes.NewReader(pageCSS))
	})
}
