# Multi-stage: build a wheel with its dependencies, then a slim runtime image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY imgflow ./imgflow
COPY gql ./gql
COPY resolvers ./resolvers
COPY workers ./workers
COPY loadtest ./loadtest
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 1000 imgflow
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER imgflow
WORKDIR /home/imgflow
ENV IMGFLOW_DATA_DIR=/home/imgflow/data
EXPOSE 8000
CMD ["imgflow", "serve", "--host", "0.0.0.0", "--port", "8000"]
