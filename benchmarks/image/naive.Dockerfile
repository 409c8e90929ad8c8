# The common way to containerise a model server, for comparison with mlgate's image: one stage,
# root, the full project requirements (MLflow, pandas, pyarrow, scikit-learn, FastAPI, ...),
# then the whole directory. As in such Dockerfiles, pip's downloads stay in the image: here the
# wheels copied in by `COPY . /app` play the part of pip's cache, since the build cannot reach
# an index (see MACHINE.md).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY . /app
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /app/wheels -r requirements.txt \
    && /opt/venv/bin/pip install --no-index --no-deps /app/mlgate/*.whl
ENV PATH=/opt/venv/bin:$PATH
EXPOSE 8000
CMD ["mlgate", "serve", "/app/bundle", "--host", "0.0.0.0", "--port", "8000"]
