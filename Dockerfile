# Multi-stage build: a static scrm binary on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/scrm ./cmd/scrm

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scrm /usr/local/bin/scrm
# The embedded store lives here when SCRM_MONGO_URI is not set.
ENV SCRM_DATA_DIR=/data SCRM_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/scrm"]
CMD ["serve"]
