# The kafkatx gateway as a static musl binary in an otherwise empty image.
#
#   docker build -t kafkatx .
#   docker run --rm -p 3001:3001 -e KAFKATX_BOOTSTRAP_SERVERS=broker:9092 kafkatx
#
# Alpine's Rust toolchain targets musl natively, and every codec of the default build is pure Rust
# (the C zstd of the `zstd-native` feature is off), so the result links statically with no C deps.
# The `dist` profile (Cargo.toml) is release without debug info and symbols, with whole-program LTO:
# the binary that `./dev test` builds in CI, step "static musl build".

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p kafkatx-server --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/dist/kafkatx /kafkatx

FROM scratch
COPY --from=build /kafkatx /kafkatx
# Inside a container the loopback default would be unreachable from outside.
ENV KAFKATX_LISTEN=0.0.0.0:3001
EXPOSE 3001
# Not root: nothing in the image needs privileges.
USER 65534:65534
ENTRYPOINT ["/kafkatx"]
CMD ["serve"]
