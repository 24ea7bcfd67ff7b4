# `make test` is the test command of the README and of .ci/run.
GO ?= go

.PHONY: test build vet fmt fuzz fuzz-ci bench deb

build:
	$(GO) build ./...

# The end-to-end labs (internal/e2e) load both cores for minutes at a time: they run after the
# other packages, not beside them, so that they neither starve nor are starved by the VRRP
# packages' timing tests.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/internal/e2e$$')
	$(GO) test -race -count=1 -timeout 30m ./internal/e2e/

fmt:
	gofmt -l -w .

# Every fuzz target, as package:Target: the configuration lexer and parser, the VRRP codec, and
# the readers of what a checked server answers (HTTP and its headers, SMTP, DNS, TCP_CHECK's
# expectations), and the operators' command lines (the control socket's and vigil ctl's).
FUZZ_TARGETS = ./internal/config/syntax:FuzzLex ./internal/config:FuzzParse ./internal/vrrp/packet:FuzzDecode \
	./internal/check:FuzzHTTPReply ./internal/check:FuzzSMTPReply ./internal/check:FuzzDNSReply \
	./internal/check:FuzzHTTPHeaders ./internal/check:FuzzTCPExpect ./internal/control:FuzzCommand

# fuzz_each runs every target for $(1) each, stopping at the first that fails. A target that
# is not where the list says fails too: go test only warns that it found nothing to fuzz.
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" when
# -fuzztime ends while a worker is busy (go.dev/issue/75804, fixed in Go 1.27): such a run,
# with no failing input written, is run once more; anything else fails at once.
define fuzz_each
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for try in 1 2; do \
			echo "fuzz $$fn ($$pkg) for $(1)"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(1) $$pkg 2>&1); rc=$$?; \
			echo "$$out" | tail -n 20; \
			[ $$rc -eq 0 ] && break; \
			if [ $$try -eq 1 ] && echo "$$out" | grep -q 'context deadline exceeded' && \
				! echo "$$out" | grep -q 'Failing input written'; then \
				echo "$$fn: the fuzz deadline race of go.dev/issue/75804, not a finding; once more"; continue; \
			fi; \
			exit 1; \
		done; \
		if echo "$$out" | grep -q 'no fuzz tests to fuzz'; then echo "$$fn is not in $$pkg"; exit 1; fi; \
	done
endef

# Fuzz runs of every parser and decoder (longer ones: FUZZTIME=5m make fuzz).
FUZZTIME ?= 30s
fuzz:
	$(call fuzz_each,$(FUZZTIME))

# The short fuzz every CI run does after make test (not part of it): a few seconds per target,
# about a minute in all on 2 cores (a target hit by go.dev/issue/75804 runs twice). A failing
# input is written under the package's testdata/fuzz and printed.
FUZZ_CI_TIME ?= 5s
fuzz-ci:
	$(call fuzz_each,$(FUZZ_CI_TIME))

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The Debian package (dist/deb/build.sh): prints the .deb's path under dist/out.
deb:
	bash dist/deb/build.sh dist/out
