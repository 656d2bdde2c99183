# Test-only stand-in for the official redis:7 image, for machines that cannot
# pull it: Debian's redis-server behind an entrypoint that behaves like the
# official one (protected mode off, `redis-server ARGS...` as the command).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-standin-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.normcache.test-standin="redis:7"
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
