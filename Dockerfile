# kafka-self-healing in a container.
#   docker build -t kafka-self-healing .
#   docker run -d -p 8080:8080 -v /etc/kafka-self-healing:/etc/kafka-self-healing:ro \
#     -v kafka-self-healing-state:/var/lib/kafka-self-healing --env-file secrets.env kafka-self-healing
# Liveness: GET /health (the image's HEALTHCHECK); readiness: GET /ready (port 8080).
# Without a registry, give local base images: --build-arg BASE_IMAGE=… RUST_IMAGE=…;
# `--target prebuilt` packs the binary and jar built on the host (`cargo build
# --release`, `jmx-bridge/build.sh target/jmx-bridge.jar`) instead of building them.
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# protobuf-compiler: etcd-client compiles etcd's protocol definitions (several healers).
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kafka-self-healing && bash jmx-bridge/build.sh /src/jmx-bridge.jar

FROM ${BASE_IMAGE} AS runtime
# ca-certificates: TLS to Kafka and the notification services; openssh-client: `ssh` and
# `restart_service` over SSH; a JRE: the JMX/RMI bridge.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates openssh-client openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system kafka-healing \
    && useradd --system --gid kafka-healing --home-dir /var/lib/kafka-self-healing kafka-healing \
    && install -d -o kafka-healing -g kafka-healing /var/lib/kafka-self-healing /var/log/kafka-self-healing \
    && install -d /etc/kafka-self-healing /opt/kafka-self-healing/plugins/monitoring \
       /opt/kafka-self-healing/plugins/recovery /opt/kafka-self-healing/plugins/notification
COPY examples/config_docker.yaml /etc/kafka-self-healing/config.yaml
COPY scripts/manual_health_check.sh scripts/cluster_status.sh scripts/send_manual_alert.sh /usr/share/kafka-self-healing/scripts/
USER kafka-healing
EXPOSE 8080
VOLUME ["/var/lib/kafka-self-healing"]
# The daemon's own liveness (its loops tick), not the cluster's health: a broken
# cluster must not get the healer restarted. bash's /dev/tcp: no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/kafka-self-healing"]
CMD ["run", "--config", "/etc/kafka-self-healing/config.yaml"]

# The binary and jar built on the host (PREBUILT: another build of it, e.g.
# target/debug/kafka-self-healing).
FROM runtime AS prebuilt
ARG PREBUILT=target/release/kafka-self-healing
COPY ${PREBUILT} /usr/bin/kafka-self-healing
COPY target/jmx-bridge.jar /usr/share/kafka-self-healing/jmx-bridge.jar

# The default image: both built in the build stage.
FROM runtime
COPY --from=build /src/target/release/kafka-self-healing /usr/bin/kafka-self-healing
COPY --from=build /src/jmx-bridge.jar /usr/share/kafka-self-healing/jmx-bridge.jar
