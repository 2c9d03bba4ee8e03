# GigaSPOT Watch: one image for every replica. Configuration comes from the environment
# (see README "Running several replicas"); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/gigaspot-bot.db

WORKDIR /app
# Editable install: the migrations are found next to the package (/app/migrations).
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY migrations ./migrations
RUN pip install -e . \
    && for po in bot/locale/*/LC_MESSAGES/*.po; do pybabel compile -i "$po" -o "${po%.po}.mo"; done \
    && useradd --uid 10001 --home-dir /data --create-home bot

USER bot
WORKDIR /data
# 8443: webhook server (TELEGRAM_WEBHOOK_URL); 9100: /metrics and /healthz (METRICS_PORT).
EXPOSE 8443 9100
ENTRYPOINT ["gigaspot-bot"]
CMD ["run"]
