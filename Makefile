# make test is the README's test command: it makes sure Redis and Chromium are
# there, vets, and runs every test with the race detector.
.PHONY: test vet build bench run demo ui

test:
	./scripts/test-deps.sh
	go vet ./...
	go test -race -count=1 -timeout 20m ./...

build:
	CGO_ENABLED=0 go build -trimpath -o bin/scrm ./cmd/scrm

bench:
	go test -run '^$$' -bench . -benchmem ./...

demo:
	go run ./cmd/scrm demo

# ui rebuilds the console's embedded files (web/dist) from web/src with the
# locked npm dependencies; the output is reproducible, and CI checks that the
# committed web/dist is what this produces.
ui:
	cd web && npm ci --no-audit --no-fund && npm run build
