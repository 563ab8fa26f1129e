# tandem: the two set-up commands of the README live here.
#   make test   installs what is missing, builds everything, runs every test
#   make run    profiles this machine (with a demo workload) and shows the result

SWIFT ?= swift
FUZZ_SECONDS ?= 60

.PHONY: deps build test fuzz run deb

deps:
	./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Live tests (BPF sampling on the real kernel, end to end, packaging) run one at a
# time after the unit tests, so that their sample counts and timeouts see a quiet machine.
LIVE_TESTS = SamplerIntegrationTests|EndToEndTests|PackagingTests

test: deps
	$(SWIFT) build --build-tests
	./scripts/test-with-summary.sh $(SWIFT) test --skip-build --skip '$(LIVE_TESTS)'
	./scripts/test-with-summary.sh $(SWIFT) test --skip-build --no-parallel --filter '$(LIVE_TESTS)'
	@if [ -x scripts/fuzz-decoder.sh ]; then ./scripts/fuzz-decoder.sh $(FUZZ_SECONDS); fi
	./scripts/fuzz-sampling-rate-reader.sh $(FUZZ_SECONDS)
	./scripts/fuzz-unwind-table-validator.sh $(FUZZ_SECONDS)
	./scripts/fuzz-file-requests.sh $(FUZZ_SECONDS)

fuzz:
	./scripts/fuzz-decoder.sh $(FUZZ_SECONDS)
	./scripts/fuzz-sampling-rate-reader.sh $(FUZZ_SECONDS)
	./scripts/fuzz-unwind-table-validator.sh $(FUZZ_SECONDS)
	./scripts/fuzz-file-requests.sh $(FUZZ_SECONDS)
	./scripts/fuzz-line-programs.sh $(FUZZ_SECONDS)

run:
	./scripts/run.sh

deb: deps
	./scripts/build-deb.sh
