# The MariaDB variant of the db role: build it by name (`contrail build-boxes db-mariadb`).
role             = "db-mariadb"
description      = "MariaDB 10.11 (the MySQL variant of db), listening on the private network"
scripts          = ["common.sh", "db.sh", "cleanup.sh"]
environment      = ["DB_ENGINE=mariadb"]
ports            = [3306]
build_by_default = false
smoke            = "mariadb -e 'select 1' | grep -qx 1"
