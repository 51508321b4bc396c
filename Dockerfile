FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY templates ./templates
COPY locales ./locales
RUN pip install --no-cache-dir . && useradd --create-home nudgebot
USER nudgebot
EXPOSE 8080
CMD ["nudgebot", "run"]
