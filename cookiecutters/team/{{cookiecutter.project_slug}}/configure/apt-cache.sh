#!/bin/bash
# apt-cache: the team's apt-cacher-ng (box apt-cache) answers. Run on every `up`; nothing to configure.
set -euo pipefail
for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:3142/acng-report.html && exit 0; sleep 0.2; done
echo "apt-cacher-ng does not answer on 3142" >&2
exit 1
