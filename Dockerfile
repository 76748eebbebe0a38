# sweep in a container: built with the Rust image, run on Debian slim as a non-root user
# whose binary carries only CAP_NET_RAW (a file capability), never root.
#
#   docker build -t sweep:0.1.0 .
#   docker run --rm --cap-drop ALL --cap-add NET_RAW sweep:0.1.0 192.0.2.0/24
#
# The file capability takes effect only when the container's bounding set holds NET_RAW
# (`--cap-add NET_RAW`, Kubernetes `capabilities: add: [NET_RAW]`) and no_new_privs is
# off (Kubernetes: allowPrivilegeEscalation must not be false). Without it sweep exits 3
# and says what to grant; `--socket datagram` with net.ipv4.ping_group_range needs no
# capability at all (see deploy/kubernetes/).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
# The whole workspace (sim/ is a member; tests and benches are declared targets), minus
# what .dockerignore leaves out.
COPY . .
RUN cargo build --release --locked --bin sweep \
 && strip target/release/sweep \
 && ./target/release/sweep --version

FROM debian:${DEBIAN}-slim
ARG UID=10001
COPY --from=build /src/target/release/sweep /usr/local/bin/sweep
# setcap comes from libcap2-bin, needed only for this step.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_raw+ep /usr/local/bin/sweep \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${UID}" sweep \
 && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sweep \
 && mkdir /results && chown "${UID}:${UID}" /results \
 && sweep man > /dev/null
USER ${UID}:${UID}
WORKDIR /results
ENTRYPOINT ["/usr/local/bin/sweep"]
CMD ["--help"]
