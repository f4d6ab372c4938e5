role        = "db"
description = "PostgreSQL 15, listening on the private network; app credentials are set at up"
scripts     = ["common.sh", "db.sh", "cleanup.sh"]
environment = ["DB_ENGINE=postgresql"]
ports       = [5432]
smoke       = "pg_isready -h 127.0.0.1 -t 2 && su postgres -s /bin/sh -c \"psql -tAc 'select 1'\" | grep -qx 1"
