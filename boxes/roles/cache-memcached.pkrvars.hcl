# The Memcached variant of the cache role: build it by name (`contrail build-boxes cache-memcached`).
role             = "cache-memcached"
description      = "Memcached 1.6 (the variant of cache), listening on the private network"
scripts          = ["common.sh", "cache.sh", "cleanup.sh"]
environment      = ["CACHE_ENGINE=memcached"]
ports            = [11211]
build_by_default = false
smoke            = "memcached -h | head -n 1 | grep -q memcached"
