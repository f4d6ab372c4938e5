role        = "web"
description = "Nginx: reverse proxy to every app node, serves static files"
scripts     = ["common.sh", "web.sh", "cleanup.sh"]
ports       = [80]
smoke       = "nginx -t -q && curl -s http://127.0.0.1/ | grep -q 'no upstream yet'"
