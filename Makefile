# tandem: the two set-up commands of the README live here.
#   make test   installs what is missing, builds everything, runs every test
#   make run    (the end-to-end run command; see README)

SWIFT ?= swift
FUZZ_SECONDS ?= 60

.PHONY: deps build test fuzz

deps:
	./scripts/install-deps.sh

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@if [ -x scripts/fuzz-decoder.sh ]; then ./scripts/fuzz-decoder.sh $(FUZZ_SECONDS); fi

fuzz:
	./scripts/fuzz-decoder.sh $(FUZZ_SECONDS)
