# Builds the `commerce` binary. Used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# FEATURES=eventstoredb builds in the EventStoreDB adapter (docker-compose.yml does).
ARG FEATURES=""
RUN cargo build --release --locked -p commerce ${FEATURES:+--features $FEATURES}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system commerce
COPY --from=build /src/target/release/commerce /usr/local/bin/commerce
USER commerce
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["commerce"]
CMD ["up"]
