# The release builder: Debian trixie's Rust (rustc-web, 1.96 in December 2026; trixie moves it on
# within the release, which the loose pin allows) with the standard library of every
# architecture the add-on ships and a C cross toolchain, so that one x86-64 machine builds the
# binaries of both images (scripts/release.sh). Also the Debian packages the images take beside the
# binary: rclone and the C library it links, for each architecture, and the CA bundle.
ARG DEBIAN=debian:trixie-slim
FROM ${DEBIAN}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# qemu-user runs the aarch64 unit tests (cargo's target runner); the rest builds. rclone's
# packages wait in /opt/debs until an image's root is assembled.
WORKDIR /opt/debs
RUN dpkg --add-architecture arm64 \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       'rustc-web=1.*' 'cargo-web=1.*' 'libstd-rust-web-dev=1.*' 'libstd-rust-web-dev:arm64=1.*' \
       'gcc=4:14.*' 'libc6-dev=2.41-*' 'gcc-aarch64-linux-gnu=4:14.*' 'libc6-dev-arm64-cross=2.41-*' \
       'libc6:arm64=2.41-*' 'binutils=2.44-*' 'pkg-config=1.8.*' 'make=4.4.*' 'cmake=3.31.*' 'perl=5.40.*' \
       'ca-certificates=2025*' 'qemu-user=1:10.0.*' \
    && apt-get download -qq 'rclone:amd64=1.60.1+dfsg-4*' 'rclone:arm64=1.60.1+dfsg-4*' \
    && rm -rf /var/lib/apt/lists/*
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
