# make test is the README's test command: it makes sure Redis and Chromium are
# there, vets, and runs every test with the race detector.
.PHONY: test vet build bench run demo

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
