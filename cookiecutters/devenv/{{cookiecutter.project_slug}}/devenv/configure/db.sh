#!/bin/bash
{%- if cookiecutter.contrail.db_engine == "postgresql" %}
# database: the app's PostgreSQL user (generated password) and database.
{%- else %}
# database: the app's MariaDB user (generated password) and database.
{%- endif %}
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
: "${DB_PASSWORD:?}"
{% if cookiecutter.contrail.db_engine == "postgresql" %}
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
su postgres -s /bin/sh -c "psql -q -v ON_ERROR_STOP=1" <<SQL
SELECT 'CREATE ROLE {{ cookiecutter.contrail.db_user }} LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{ cookiecutter.contrail.db_user }}')\gexec
ALTER ROLE {{ cookiecutter.contrail.db_user }} WITH LOGIN PASSWORD '${DB_PASSWORD}';
SELECT 'CREATE DATABASE {{ cookiecutter.contrail.db_name }} OWNER {{ cookiecutter.contrail.db_user }}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{ cookiecutter.contrail.db_name }}')\gexec
SQL
{%- else %}
for _ in $(seq 100); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
mariadb <<SQL
CREATE DATABASE IF NOT EXISTS \`{{ cookiecutter.contrail.db_name }}\`;
CREATE USER IF NOT EXISTS '{{ cookiecutter.contrail.db_user }}'@'%';
ALTER USER '{{ cookiecutter.contrail.db_user }}'@'%' IDENTIFIED BY '${DB_PASSWORD}';
GRANT ALL ON \`{{ cookiecutter.contrail.db_name }}\`.* TO '{{ cookiecutter.contrail.db_user }}'@'%';
SQL
{%- endif %}
