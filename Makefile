# runcred: `make demo` runs the main job, `make test` runs every test.
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

.PHONY: build tools test fuzz mutate bench demo clean

build:
	$(GO) build -o bin/runcred ./cmd/runcred

# Pinned test peers (MinIO, mc), built once per version into a cache outside the clone.
tools:
	scripts/tools.sh

test: tools build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	scripts/fuzz.sh 5s

# Longer fuzzing of every parser of untrusted input.
fuzz:
	scripts/fuzz.sh 60s

# Mutation testing of the security packages (slow; PKGS="internal/token" for one).
mutate:
	scripts/mutate.sh $(PKGS)

bench: build
	scripts/bench.sh

# KEEP=1 leaves the server running afterwards, for the web UI.
demo: tools build
	KEEP=$(KEEP) scripts/demo.sh

clean:
	rm -rf bin .demo
