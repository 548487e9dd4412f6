// Package header holds a request's headers in the two forms the plugin sees them: a
// List of name and value pairs, as the SDK hands them over, and Raw, a view of the map
// as the host serializes it (proxy_get_header_map_pairs), read in place so that a
// request that is not copied never has its headers turned into strings.
//
// It knows nothing of mirroring. ParseRaw checks every size once, so that no read of
// a Raw goes past its bytes whatever the host wrote; nothing here panics on any input.
package header
