#!/bin/bash
# staging-mysql: the app's user (generated password) and database. Run on every `up`.
set -euo pipefail
: "${DB_PASSWORD:?}"
for _ in $(seq 100); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
mariadb <<SQL
CREATE DATABASE IF NOT EXISTS {{ cookiecutter.team.db_name }};
CREATE USER IF NOT EXISTS '{{ cookiecutter.team.db_user }}'@'%';
ALTER USER '{{ cookiecutter.team.db_user }}'@'%' IDENTIFIED BY '${DB_PASSWORD}';
GRANT ALL ON {{ cookiecutter.team.db_name }}.* TO '{{ cookiecutter.team.db_user }}'@'%';
SQL
