# Petrel — one binary, an Amazon SES-compatible sending platform.

.PHONY: run test build vet bench bench-deps bench-go

# Run Petrel on its embedded default (SQLite in ./petrel-data, 127.0.0.1 only).
run:
	go run ./cmd/petrel serve

# The test suite, in a random order (a test must not depend on another's
# leftovers; rerun an order with go test -shuffle=SEED). PostgreSQL tests run
# too when PETREL_TEST_POSTGRES is set. Then the tests of Petrel's patches
# to the vendored Handlebars parser (third_party/raymond, a module of its own).
test:
	go test -shuffle=on ./...
	cd third_party/raymond && go test ./lexer ./parser

build:
	go build -o petrel ./cmd/petrel

vet:
	go vet ./...
	test -z "$$(gofmt -l .)"

# Petrel against Postfix on this machine (as root): installs Postfix if it is
# missing, runs every scenario 3 times and rewrites the measured section of
# docs/benchmarks.md. About 15 minutes.
bench: bench-deps
	go run ./cmd/petrel-bench

bench-deps:
	command -v postconf >/dev/null || (echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix)

# The Go benchmarks of the hot paths (PostgreSQL ones when PETREL_TEST_POSTGRES is set).
bench-go:
	go test -run '^$$' -bench . -benchmem ./...
