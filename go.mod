module github.com/vnrpc/vnrpc

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/edsrzf/mmap-go v1.2.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	golang.org/x/sys v0.49.0
)

require (
	github.com/pebbe/zmq4 v1.4.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
