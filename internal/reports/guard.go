package reports

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// contentSecurityPolicy is sent with every answer. The page loads its stylesheet (and
// any script) from the receiver itself, never inline, so an HTML injection that got
// past html/template still runs nothing; frame-ancestors 'none' keeps the page out of
// other sites' frames (clickjacking).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// AllowHosts adds names to the Host values the receiver answers, besides IP addresses
// and localhost: the names clients reach it by, such as a Kubernetes Service's
// (meshmirror-reports, meshmirror-reports.NS.svc.cluster.local). A request for any
// other Host is answered 421, so that a site whose name was rebound to the receiver's
// address (DNS rebinding) cannot read it through a browser. A name is matched without
// regard to case, a port or a trailing dot. Its error names the first name that is
// not a DNS name; the names before it are added.
func (s *Server) AllowHosts(names ...string) error {
	for _, name := range names {
		if err := CheckHostName(name); err != nil {
			return err
		}
		if s.hosts == nil {
			s.hosts = map[string]bool{}
		}
		s.hosts[canonicalHost(name)] = true
	}
	return nil
}

// CheckHostName says what is wrong with name as a value of `-host`: a DNS name
// (letters, digits, hyphens and dots), without a port or a scheme.
func CheckHostName(name string) error {
	host := strings.TrimSuffix(name, ".")
	switch {
	case host == "":
		return errors.New("a host name must not be empty")
	case len(host) > 253:
		return fmt.Errorf("host name %q: longer than 253 bytes", cut(name))
	case strings.Contains(host, ":"):
		return fmt.Errorf("host name %q: a name without a port or scheme, e.g. meshmirror-reports.NS.svc", cut(name))
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return fmt.Errorf("host name %q: an IP address, which is always answered; give names only", name)
	}
	for _, label := range strings.Split(host, ".") {
		ok := label != "" && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
		for i := 0; ok && i < len(label); i++ {
			c := label[i] | 0x20 // lower case for letters
			ok = c >= 'a' && c <= 'z' || label[i] >= '0' && label[i] <= '9' || label[i] == '-'
		}
		if !ok {
			return fmt.Errorf("host name %q: label %q is not a DNS label (letters, digits and inner hyphens, 1 to 63 of them)", cut(name), cut(label))
		}
	}
	return nil
}

// canonicalHost is a host name as it is compared: lower case, no trailing dot.
func canonicalHost(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// guard applies the rules every request must pass before it reaches a handler, and
// sets the headers every answer carries. It returns false when it has answered the
// request itself: 421 for a Host the receiver does not answer; for a request that can
// change something (any method but GET, HEAD and OPTIONS), 403 when a browser sent it
// from another site or origin, and 415 for a POST whose body is not declared JSON.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	// No other origin may embed the answers (a <script> or <img> of /api/endpoints).
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	refuse := func(code int, msg string) bool {
		if r.Method == http.MethodPost && r.URL.Path == Path {
			s.answered.WithLabelValues(fmt.Sprint(code)).Inc()
		}
		h.Set("Connection", "close") // whatever else the client sends is not read
		http.Error(w, msg, code)
		return false
	}
	if msg := s.checkHost(r.Host); msg != "" {
		return refuse(http.StatusMisdirectedRequest, msg)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		// They change nothing, and a browser does not let another origin read the
		// answer; 421 above keeps a rebound name from being that origin.
		return true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return refuse(http.StatusForbidden, "a browser's cross-site request (Sec-Fetch-Site: cross-site): reports come from the plugin, not from web pages")
	}
	if origin, ok := r.Header["Origin"]; ok && !sameOrigin(origin, r.Host) {
		return refuse(http.StatusForbidden, fmt.Sprintf("Origin %q is not this receiver's (http://%s): reports come from the plugin, not from web pages", cut(strings.Join(origin, ", ")), cut(r.Host)))
	}
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if media, _, err := mime.ParseMediaType(ct); err != nil || media != "application/json" {
			return refuse(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: a report is sent as application/json", cut(ct)))
		}
	}
	return true
}

// checkHost says why the receiver does not answer host (a Host header, with or
// without a port), "" when it does: an IP address, localhost, or a name of AllowHosts.
func (s *Server) checkHost(host string) string {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1] // an IPv6 address without a port
	}
	switch {
	case host == "":
		return "no Host: this receiver answers an IP address, localhost, or a name given with -host"
	case isIP(name), canonicalHost(name) == "localhost", s.hosts[canonicalHost(name)]:
		return ""
	}
	return fmt.Sprintf("Host %q is not an IP address, localhost, or a name given with -host", cut(host))
}

func isIP(name string) bool {
	_, err := netip.ParseAddr(name)
	return err == nil
}

// sameOrigin reports whether a request's Origin header is the receiver's own origin:
// http:// and the Host the request was sent to (the receiver serves plain HTTP; TLS,
// where there is any, ends before it). "null", several values, or any other origin
// is not.
func sameOrigin(origin []string, host string) bool {
	if len(origin) != 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(withPort(u.Host), withPort(host))
}

// withPort adds HTTP's default port to a host that has none.
func withPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}
