# Lifeboat add-on image: a static binary on an empty base.
# The Supervisor builds it on the device, passing BUILD_ARCH and BUILD_VERSION.

FROM rust:1.95-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# rclone, for the rclone destination kind (Google Drive, OneDrive, Dropbox…): Debian bookworm's
# build of 1.60.1 (MIT licence), pinned, from the Debian archive the build image already uses, so
# the build needs nothing else from outside. The final image is empty: the libraries it links
# (glibc's) are copied beside it. (It cannot be tried here: it reads /proc as it starts; the
# image test runs it in the container.)
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends 'rclone=1.60.1+dfsg-*' \
    && mkdir -p /rootfs/usr/bin \
    && cp /usr/bin/rclone /rootfs/usr/bin/rclone \
    && ldd /usr/bin/rclone | grep -o '/[^ ]*' | xargs -I{} cp -L --parents {} /rootfs/ \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Pages and their assets are compiled into the binary.
COPY templates ./templates
COPY static ./static
# The demo embeds one sample backup.
COPY tests/data/ha-core/ha-2026.2.3-plain.tar ./tests/data/ha-core/ha-2026.2.3-plain.tar
# crt-static: glibc linked in, so the binary needs nothing from the image at run time. The `image`
# profile (Cargo.toml) and at most two compilers at once keep the build's memory within what a
# 2 GB Raspberry Pi has: cargo would start one per core, and a Pi 4 or 5 has four (peaks in DOCS).
ARG BUILD_JOBS=2
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
    && RUSTFLAGS="-C target-feature=+crt-static" \
       cargo build --profile image --locked --jobs "${BUILD_JOBS}" --target "$target" \
    && cp "target/$target/image/lifeboat" /lifeboat \
    && mkdir -p /rootfs/tmp /rootfs/etc/ssl/certs \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch
ARG BUILD_ARCH=amd64
ARG BUILD_VERSION=0.1.0
COPY --from=build /rootfs/ /
COPY --from=build /lifeboat /usr/bin/lifeboat
ENV SQLITE_TMPDIR=/data \
    LIFEBOAT_LOG=info \
    RCLONE_CONFIG=/data/rclone.conf
LABEL io.hass.version="${BUILD_VERSION}" \
      io.hass.type="app" \
      io.hass.arch="${BUILD_ARCH}" \
      io.hass.name="Lifeboat" \
      io.hass.description="Off-site, encrypted backups of Home Assistant that are proven to restore" \
      org.opencontainers.image.title="Lifeboat" \
      org.opencontainers.image.version="${BUILD_VERSION}"
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/bin/lifeboat", "health"]
ENTRYPOINT ["/usr/bin/lifeboat"]
CMD ["serve"]
