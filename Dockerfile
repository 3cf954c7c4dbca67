# One image for every Clicktrail process; the command picks which:
#   services.links | services.ingest | services.attribution | services.postbacks |
#   services.analytics | gateway | cli.main ...   (run as `python -m <command>`)
# gen/ (the generated protobuf code) is committed, so the image needs no protoc.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
RUN python -m venv /opt/clicktrail
WORKDIR /src
COPY pyproject.toml ./
COPY libs ./libs
COPY services ./services
COPY gateway ./gateway
COPY cli ./cli
COPY console ./console
COPY gen ./gen
# A plain (non-editable) install: the runtime dependencies, our packages, their
# migrations and catalog; no dev tools, no embedded PostgreSQL.
RUN /opt/clicktrail/bin/pip install . \
 && find /opt/clicktrail -name "__pycache__" -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent clicktrail
COPY --from=build /opt/clicktrail /opt/clicktrail
ENV PATH=/opt/clicktrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CLICKTRAIL_GATEWAY_HOST=0.0.0.0 \
    CLICKTRAIL_METRICS_HOST=0.0.0.0
USER 10001
WORKDIR /tmp
ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
