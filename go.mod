module github.com/meshmirror/meshmirror

go 1.25.0

require (
	github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0
	github.com/tetratelabs/wabin v0.0.0-20230304001439-f6f874872834
	github.com/tidwall/gjson v1.20.0
)

require (
	github.com/tetratelabs/wazero v1.12.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.0 // indirect
	golang.org/x/sys v0.44.0 // indirect
)
