role        = "cache"
description = "Redis 7, the shared cache of the app servers, listening on the private network; its password is set at up"
scripts     = ["common.sh", "cache.sh", "cleanup.sh"]
environment = ["CACHE_ENGINE=redis"]
ports       = [6379]
smoke       = "redis-server --version && grep -q '^requirepass ' /etc/redis/contrail-auth.conf"
