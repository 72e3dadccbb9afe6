# ikp: multi-stage build of the `ikp` binary (statically linked, musl) into a minimal runtime image.
# Build from the repository root: docker build -t ikp:dev .   (see deploy/README.md)
# Built on Debian for the musl target, as CI and benches/vs-helm.sh (TARGET=) build it: musl-tools is
# the C compiler for ring's C code; .cargo/config.toml links at a fixed address with Rust's LLD.
FROM rust:1.89-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo ./.cargo
COPY src ./src
COPY charts ./charts
COPY schemas ./schemas
COPY benches ./benches
COPY tests ./tests
RUN cargo build --profile dist --locked --bin ikp --target x86_64-unknown-linux-musl \
    && strip target/x86_64-unknown-linux-musl/dist/ikp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/dist/ikp /usr/local/bin/ikp
COPY config.sample.ini /etc/ikp/config.sample.ini
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ikp"]
CMD ["serve", "--config", "/etc/ikp/config.ini"]
