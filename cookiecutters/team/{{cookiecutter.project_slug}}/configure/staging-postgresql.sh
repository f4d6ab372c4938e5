#!/bin/bash
# staging-postgresql: the app's user (generated password) and database. Run on every `up`.
set -euo pipefail
: "${DB_PASSWORD:?}"
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
su postgres -s /bin/sh -c "psql -q -v ON_ERROR_STOP=1" <<SQL
SELECT 'CREATE ROLE {{ cookiecutter.team.db_user }} LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{ cookiecutter.team.db_user }}')\gexec
ALTER ROLE {{ cookiecutter.team.db_user }} WITH LOGIN PASSWORD '${DB_PASSWORD}';
SELECT 'CREATE DATABASE {{ cookiecutter.team.db_name }} OWNER {{ cookiecutter.team.db_user }}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{ cookiecutter.team.db_name }}')\gexec
SQL
