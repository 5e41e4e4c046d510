# The add-on's ready-made image (scripts/release.sh): the files beside the binary are in the
# context's rootfs/, made from Debian's packages of the image's architecture. Everything after
# FROM is the final stage of the Dockerfile the Supervisor builds on the device; a test keeps the
# two alike.
FROM scratch
ARG BUILD_ARCH=amd64
ARG BUILD_VERSION=0.1.0
COPY rootfs/ /
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
