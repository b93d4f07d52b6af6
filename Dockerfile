# One image for every part of the monitor: `monitor poll`, `monitor worker`, `monitor web` and the
# one-shot `monitor topics ensure`. Configuration comes only from MONITOR_* environment variables.
#   docker build -t news-monitor:0.1.0 .
#   docker build --build-arg MONITOR_EXTRAS=rocksdb .   with on-disk Faust tables (rocksdict)
FROM python:3.11.11-slim-bookworm

ARG MONITOR_EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MONITOR_CONFIG_DIR=/app/config \
    MONITOR_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY agents ./agents
RUN pip install --no-cache-dir "/app${MONITOR_EXTRAS:+[$MONITOR_EXTRAS]}" \
    && useradd --system --uid 10001 --home-dir /data --create-home monitor
COPY config ./config
COPY deploy ./deploy

USER 10001
ENTRYPOINT ["monitor"]
CMD ["--help"]
