# ikp: multi-stage build of the `ikp` binary (statically linked, musl) into a minimal runtime image.
# Build from the repository root: docker build -t ikp:dev .   (see deploy/README.md)
FROM rust:1.89-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY charts ./charts
COPY schemas ./schemas
COPY benches ./benches
COPY tests ./tests
RUN cargo build --profile dist --locked --bin ikp && strip target/dist/ikp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/dist/ikp /usr/local/bin/ikp
COPY config.sample.ini /etc/ikp/config.sample.ini
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ikp"]
CMD ["serve", "--config", "/etc/ikp/config.ini"]
