# Petrel — one binary, an Amazon SES-compatible sending platform.

.PHONY: run test build vet

# Run Petrel on its embedded default (SQLite in ./petrel-data, 127.0.0.1 only).
run:
	go run ./cmd/petrel serve

# The test suite. PostgreSQL tests run too when PETREL_TEST_POSTGRES is set.
test:
	go test ./...

build:
	go build -o petrel ./cmd/petrel

vet:
	go vet ./...
	test -z "$$(gofmt -l .)"
