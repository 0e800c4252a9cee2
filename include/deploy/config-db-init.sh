#!/usr/bin/env bash
# Creates the configuration store's database and its account (connection bds_db) on Airflow's
# PostgreSQL. Run by the postgres image on its first start (/docker-entrypoint-initdb.d); on a
# deployment whose volume exists already, run it once by hand (README.md, "Deployment"). Safe
# to run again: nothing that exists is changed. The schema is the store's own business:
# `python -m bds.config migrate` (airflow-init) creates and upgrades it.
#   BDS_DB_NAME      the database (default: bds)
#   BDS_DB_USER      its owner, the account of bds_db (default: bds)
#   BDS_DB_PASSWORD  its password (required)
set -euo pipefail
: "${BDS_DB_PASSWORD:?the account of the configuration store needs a password}"
database="${BDS_DB_NAME:-bds}"
owner="${BDS_DB_USER:-bds}"

psql -v ON_ERROR_STOP=1 -v owner="$owner" -v password="$BDS_DB_PASSWORD" -v db="$database" --dbname postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
