# One image for every part of the monitor: `monitor poll`, `monitor worker`, `monitor web`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MONITOR_CONFIG_DIR=/app/config \
    MONITOR_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY agents ./agents
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /data --create-home monitor
COPY config ./config

USER monitor
ENTRYPOINT ["monitor"]
CMD ["--help"]
