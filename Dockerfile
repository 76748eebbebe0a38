# sweep in a container: built with the Rust image, run on Debian slim as a non-root user
# whose binary carries only CAP_NET_RAW as a permitted file capability, never root.
#
#   docker build -t sweep:0.1.0 .
#   docker run --rm --cap-drop ALL --cap-add NET_RAW sweep:0.1.0 192.0.2.0/24
#
# `cap_net_raw+p` (permitted, not effective): sweep raises it itself when it opens its
# sockets. It is granted only when the container's bounding set holds NET_RAW
# (`--cap-add NET_RAW`, Kubernetes `capabilities: add: [NET_RAW]`) and no_new_privs is
# off (Kubernetes: allowPrivilegeEscalation must not be false); without it sweep still
# starts (an `+ep` binary would be refused at exec), exits 3 and says what to grant.
# `--socket datagram` with net.ipv4.ping_group_range needs no capability at all (see
# deploy/kubernetes/).
#
# scripts/image.sh builds this file with podman and no registry: BASE names a locally
# made Debian image and SWEEP_FROM=prebuilt takes a binary built on the host
# (prebuilt/sweep in the build context) instead of the `build` stage.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm
ARG BASE=debian:${DEBIAN}-slim
ARG SWEEP_FROM=build

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
# The whole workspace (sim/ is a member; tests and benches are declared targets), minus
# what .dockerignore leaves out.
COPY . .
RUN cargo build --release --locked --bin sweep \
 && strip target/release/sweep \
 && ./target/release/sweep --version

# A binary built elsewhere (scripts/image.sh), at the path the `build` stage leaves it.
FROM scratch AS prebuilt
COPY prebuilt/sweep /src/target/release/sweep

FROM ${SWEEP_FROM} AS binary

FROM ${BASE}
ARG UID=10001
COPY --from=binary /src/target/release/sweep /usr/local/bin/sweep
# setcap comes from libcap2-bin, installed for this step only unless the base has it.
RUN if ! command -v setcap >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libcap2-bin \
        && purge=libcap2-bin; \
    fi \
 && setcap cap_net_raw+p /usr/local/bin/sweep \
 && if [ -n "${purge:-}" ]; then \
        apt-get purge -y --auto-remove "$purge" && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid "${UID}" sweep \
 && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sweep \
 && mkdir /results && chown "${UID}:${UID}" /results \
 && sweep man > /dev/null
USER ${UID}:${UID}
WORKDIR /results
ENTRYPOINT ["/usr/local/bin/sweep"]
CMD ["--help"]
