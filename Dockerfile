# The Berichtenbox engine as a container image: built in a Rust image, run in a slim Debian.
#   docker build -t berichtenbox .
#   docker run -p 8080:8080 -v berichtenbox-data:/data -e BERICHTENBOX_BEHEER_TOKEN=... berichtenbox
# docker-compose.yml runs it with Prometheus and Grafana.

# The workspace's rust-version.
FROM rust:1.90-bookworm AS build
WORKDIR /src
# The whole workspace (the load-test and bench crates are members; .dockerignore leaves out
# target/ and data), built once; only the engine's binary goes into the image.
COPY . .
RUN cargo build --release --locked --bin berichtenbox \
    && cp target/release/berichtenbox /usr/local/bin/berichtenbox

FROM debian:bookworm-slim
# CA certificates for webhooks and SMTP relays over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin berichtenbox \
    && mkdir -p /data \
    && chown berichtenbox:berichtenbox /data
COPY --from=build /usr/local/bin/berichtenbox /usr/local/bin/berichtenbox
USER berichtenbox
WORKDIR /data
VOLUME /data
EXPOSE 8080 9464
ENTRYPOINT ["berichtenbox"]
# Inside a container both listeners bind 0.0.0.0 (the operations listener serves /metrics).
CMD ["serve", "--listen", "0.0.0.0:8080", "--ops-listen", "0.0.0.0:9464", "--data-dir", "/data"]
