package header

// List is a request's header list as Envoy hands it over: lower-case names,
// pseudo-headers included, a name possibly repeated.
type List [][2]string

// Get returns the value of the header name (lower case) and whether it is present.
// Repeated headers are joined with ",", as Envoy's header matchers see them. A
// pseudo-header appears at most once (RFC 9113, 8.3; Envoy's codecs refuse repeats)
// and first, so its search stops where it is found.
func (h List) Get(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	value, found := "", false
	pseudo := name[0] == ':'
	for _, kv := range h {
		// Comparing the lengths first skips most names without the call into TinyGo's
		// runtime that comparing strings is: this runs for every rule of every request.
		if len(kv[0]) != len(name) || kv[0][0] != name[0] || kv[0] != name {
			continue
		}
		if pseudo {
			return kv[1], true
		}
		if found {
			value += "," + kv[1]
		} else {
			value, found = kv[1], true
		}
	}
	return value, found
}
