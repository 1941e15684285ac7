# The ZPD API image: `zpd serve` / `zpd migrate` on PostgreSQL (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY trainer_client ./trainer_client
COPY gpu_worker ./gpu_worker
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home zpd
USER zpd
EXPOSE 8000
CMD ["zpd", "serve", "--host", "0.0.0.0", "--port", "8000"]
