# The mmsearch app image used by docker-compose.yml (not built in CI: no Docker engine there).
FROM python:3.11-slim
WORKDIR /srv/mmsearch
COPY pyproject.toml README.md ./
COPY app app
COPY encoders encoders
COPY indexers indexers
COPY milvus milvus
RUN pip install --no-cache-dir . && pip install --no-cache-dir --no-deps aisfx==0.1.2
EXPOSE 8501
CMD ["mmsearch", "serve", "--host", "0.0.0.0", "--port", "8501"]
