import os
import socket

from django.db import connection
from django.shortcuts import render

from visits.models import Visit


def index(request):
    node = os.environ.get("CONTRAIL_NODE") or socket.gethostname()
    release = os.environ.get("CONTRAIL_RELEASE", "local")
    Visit.objects.create(node=node, release=release)
    return render(
        request,
        "visits/index.html",
        {"node": node, "release": release, "visits": Visit.objects.count(), "database": connection.display_name},
    )
