#!/usr/bin/env bash
# Creates the demo source databases and a read-only account for the pipelines. Run once by the
# postgres image on its first start (/docker-entrypoint-initdb.d), as the owner POSTGRES_USER;
# the generator (python -m bds.demo --connections) then creates and fills the tables as owner.
#   BDS_SOURCE_DATABASES         databases to create (default: gim gvp cme)
#   BDS_SOURCES_READER           the read-only account (default: bds_reader)
#   BDS_SOURCES_READER_PASSWORD  its password (required)
set -euo pipefail
: "${BDS_SOURCES_READER_PASSWORD:?the read-only account needs a password}"
reader="${BDS_SOURCES_READER:-bds_reader}"
owner="${POSTGRES_USER:-postgres}"

psql -v ON_ERROR_STOP=1 -v reader="$reader" -v password="$BDS_SOURCES_READER_PASSWORD" --dbname postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'reader', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') \gexec
SQL
for database in ${BDS_SOURCE_DATABASES:-gim gvp cme}; do
    psql -v ON_ERROR_STOP=1 -v db="$database" --dbname postgres <<'SQL'
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    # Tables the owner creates later are readable, and only readable, by the reader.
    psql -v ON_ERROR_STOP=1 -v db="$database" -v reader="$reader" -v owner="$owner" --dbname "$database" <<'SQL'
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
done
