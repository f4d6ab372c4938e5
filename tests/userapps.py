"""Projects as users bring them, made at test time by the real tools: `django-admin startproject` and
`manage.py startapp` / `makemigrations` of a Django release from the registry, and a small Flask app.

Only what a user adds by hand is written here: one app with a model and views (a page, and a value
kept in the session for a logged-in user), its URLs, the app in INSTALLED_APPS, a requirements.txt.
Infrastructure settings (DATABASES, STATIC_ROOT, ALLOWED_HOSTS, SECRET_KEY, DEBUG, caches, sessions,
storage) stay as `startproject` wrote them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DJANGO_VERSIONS = {"4.2": "Django>=4.2,<4.3", "5.2": "Django>=5.2,<6"}

MODELS = """from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
"""

VIEWS = """from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

from .models import Note


def index(request):
    Note.objects.create(text=request.GET.get("text", "visit"))
    return HttpResponse(f"<h1>Notes</h1><p>{Note.objects.count()} notes</p>")


@login_required
def remember(request):
    request.session["note"] = request.POST["text"]
    return HttpResponse("remembered")


@login_required
def recall(request):
    return HttpResponse(f"note: {request.session.get('note', '')}")
"""

URLS = """from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("remember/", views.remember),
    path("recall/", views.recall),
]
"""

# Log in with Django's auth (the admin's login form), put a value in the session, read it back.
FLOW = """[[step]]
name = "login page"
path = "/admin/login/"

[[step]]
name = "log in"
method = "POST"
path = "/admin/login/?next=/admin/"
form = { username = "alice", password = "correct-horse-battery", next = "/admin/" }
status = 302

[[step]]
name = "set a session value"
method = "POST"
path = "/remember/"
form = { text = "blue" }
text = "remembered"

[[step]]
name = "read it back"
path = "/recall/"
text = "note: blue"
"""
FLOW_USER = ("alice", "correct-horse-battery")


def django_tools(cache: Path, version: str) -> Path:
    """A directory holding the Django release `version` ("4.2" or "5.2"), installed from the registry
    once per cache directory."""
    target = cache / f"django-{version}"
    if not (target / "django").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), DJANGO_VERSIONS[version]],
            check=True,
        )
    return target


def _django(tools: Path, *args: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tools)}
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, capture_output=True)


def makemigrations(where: Path, tools: Path) -> None:
    """`manage.py makemigrations`, as a user runs it after changing a model."""
    _django(tools, "manage.py", "makemigrations", cwd=where)


def startproject(where: Path, tools: Path, version: str) -> Path:
    """`django-admin startproject mysite` + an app `notes` with a model, a view and its migration."""
    where.mkdir(parents=True, exist_ok=True)
    _django(tools, "-m", "django", "startproject", "mysite", ".", cwd=where)
    _django(tools, "manage.py", "startapp", "notes", cwd=where)
    (where / "notes" / "models.py").write_text(MODELS)
    (where / "notes" / "views.py").write_text(VIEWS)
    (where / "notes" / "urls.py").write_text(URLS)
    settings = where / "mysite" / "settings.py"
    text = settings.read_text()
    settings.write_text(text.replace("'django.contrib.staticfiles',", "'django.contrib.staticfiles',\n    'notes',", 1))
    urls = where / "mysite" / "urls.py"
    text = urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
    admin = "path('admin/', admin.site.urls),"
    urls.write_text(text.replace(admin, f"{admin}\n    path('', include('notes.urls')),"))
    _django(tools, "manage.py", "makemigrations", "notes", cwd=where)
    (where / "requirements.txt").write_text(DJANGO_VERSIONS[version] + "\n")
    return where


FLASK_APP = """import os
import sqlite3
from pathlib import Path

from flask import Flask, request

app = Flask(__name__)
HERE = Path(__file__).resolve().parent
UPLOADS = HERE / "uploads"


@app.get("/")
def index():
    db = sqlite3.connect(HERE / "visits.sqlite3")
    db.execute("create table if not exists visits (at text)")
    db.execute("insert into visits values (datetime('now'))")
    db.commit()
    count = db.execute("select count(*) from visits").fetchone()[0]
    return f"<h1>Visits</h1><p>{count} visits</p>"


@app.post("/upload")
def upload():
    UPLOADS.mkdir(exist_ok=True)
    file = request.files["file"]
    file.save(UPLOADS / os.path.basename(file.filename))
    return "stored\\n"
"""


def flask_app(where: Path) -> Path:
    """A small Flask app that counts visits in a SQLite file and stores uploads beside its code."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "app.py").write_text(FLASK_APP)
    (where / "requirements.txt").write_text("Flask>=3,<4\n")
    return where
