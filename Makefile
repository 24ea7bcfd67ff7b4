# `make test` is the test command of the README and of .ci/run.
GO ?= go

.PHONY: test build vet fmt fuzz bench

build:
	$(GO) build ./...

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	gofmt -l -w .

# Short fuzz runs of every parser (longer ones: FUZZTIME=5m make fuzz).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLex -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/vrrp/packet/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
