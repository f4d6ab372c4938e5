role        = "proxy"
description = "HAProxy: the topology's front door, health-checks the web nodes, stats page"
scripts     = ["common.sh", "proxy.sh", "cleanup.sh"]
ports       = [80, 8404]
smoke       = "haproxy -c -q -f /etc/haproxy/haproxy.cfg && curl -s http://127.0.0.1/ | grep -q 'no backends yet'"
