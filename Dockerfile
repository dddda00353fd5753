# kimi-student service image (CPU torch). Build: docker build -t kimi-student .
# Run the migrations once (`kimi-student db upgrade`), then any number of replicas (`kimi-student serve`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# CPU wheels of the pinned torch first: the layer is large and changes rarely.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY arbiter arbiter
COPY modeling modeling
COPY training training
COPY conversion conversion
COPY service service
COPY evaluation evaluation
COPY kimi_student kimi_student
COPY configs configs
COPY migrations migrations
# Editable install: the service finds configs/ and migrations/ beside its sources under /app.
RUN pip install -e . && useradd --create-home --uid 10001 ks && mkdir -p /app/data /app/artifacts \
    && chown ks /app/data
USER ks

ENV KS_HOST=0.0.0.0 KS_PORT=8000 KS_ARTIFACTS=/app/artifacts KS_DATA_DIR=/app/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
CMD ["kimi-student", "serve"]
