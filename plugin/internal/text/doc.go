// Package text holds the few string helpers the module uses in place of fmt and
// strconv's larger paths: Sprintf for messages, FNV-1a for hashing what streams past,
// and cutting a value at a character boundary for logs and reports.
//
// It knows nothing of mirroring, never panics on any input (a bad verb is written as
// fmt writes one), and allocates only the strings it returns.
package text
