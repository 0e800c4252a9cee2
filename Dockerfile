# The image of every Airflow container in docker-compose.yaml: the official Airflow image with
# exactly the pinned runtime requirements (requirements.txt, held by constraints.txt) and this
# package; none of the development packages (requirements-dev.txt) or tools (tools/).
# The Python of the tag is the one constraints.txt was frozen and tested on.
FROM apache/airflow:3.3.2-python3.11

# Airflow is named in the same pip call, so no requirement can move it up or down.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/bds/
# (The image's other providers keep their own versions; nothing here imports them.)
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/bds/requirements.txt -c /opt/bds/constraints.txt

# The package, DAGs, SQL and configuration are part of the image: every worker, on any
# machine, runs the same code. Rebuild (`docker compose up --build`) after changing them.
COPY --chown=airflow:0 pyproject.toml /opt/bds/
COPY --chown=airflow:0 src /opt/bds/src
RUN pip install --no-cache-dir --no-deps /opt/bds
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
ENV BDS_SQL_DIR=/opt/airflow/include/sql
