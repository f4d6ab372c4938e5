role        = "apt-cache"
description = "apt-cacher-ng on 3142: a package cache for builds and machines"
scripts     = ["common.sh", "apt-cache.sh", "cleanup.sh"]
ports       = [3142]
smoke       = "curl -fsS -o /dev/null http://127.0.0.1:3142/acng-report.html"
