# Balie: the Telegram support-desk bot. Build: docker build -t balie .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system balie \
    && useradd --system --gid balie --home-dir /app --shell /usr/sbin/nologin balie

WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY handlers ./handlers
COPY storage ./storage

RUN pip install --no-cache-dir . \
    && mkdir -p /app/data /app/letters \
    && chown balie:balie /app/data /app/letters

ENV BALIE_DATABASE_URL=sqlite+aiosqlite:////app/data/balie.sqlite3

VOLUME ["/app/data"]
# The webhook server's port (webhook mode only: balie run --webhook URL).
EXPOSE 8080
USER balie

CMD ["balie", "run"]
