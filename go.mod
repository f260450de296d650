module gitlab.wikimedia.org/repos/search-platform/streamkit

go 1.26

require (
	github.com/ncw/swift/v2 v2.0.5 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
