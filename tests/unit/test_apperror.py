"""The app's own error, read from an app server's log as Gunicorn, Flask and Contrail's wrapper write it."""

from __future__ import annotations

from contrail.deploy import apperror

FLASK = """[2026-11-29 15:49:01 +0000] [12] [INFO] Booting worker with pid: 12
[2026-11-29 15:49:20,123] ERROR in app: Exception on / [GET]
Traceback (most recent call last):
  File "/srv/app/venvs/ab12/lib/python3.11/site-packages/flask/app.py", line 1511, in wsgi_app
    response = self.full_dispatch_request()
  File "/srv/app/releases/20261129-154901-000001/app.py", line 14, in index
    db = sqlite3.connect(HERE / "visits.sqlite3")
sqlite3.OperationalError: unable to open database file
10.1.2.21 - - [29/Nov/2026:15:49:20 +0000] "GET / HTTP/1.1" 500 265 "-" "curl/7.88.1"
"""

DJANGO = """contrail: app1 release 20261129-1: the app raised while serving /notes/:
Traceback (most recent call last):
  File "/srv/app/venvs/ab12/lib/python3.11/site-packages/django/core/handlers/exception.py", line 55, in inner
    response = get_response(request)
  File "/srv/app/releases/20261129-1/notes/views.py", line 7, in index
    open("/srv/app/releases/20261129-1/notes/cache.txt", "w").write("x")
PermissionError: [Errno 13] Permission denied: '/srv/app/releases/20261129-1/notes/cache.txt'
contrail: app1 release 20261129-1: the app raised while serving /remember/:
Traceback (most recent call last):
  File "/srv/app/releases/20261129-1/notes/views.py", line 20, in remember
    Note.objects.create(text=text)
django.db.utils.IntegrityError: duplicate key value violates unique constraint "notes_note_text_key"
"""


def test_the_last_traceback_names_the_exception_and_the_apps_own_frame():
    error = apperror.last_error(FLASK)
    assert error is not None
    assert error.exception == "sqlite3.OperationalError: unable to open database file"
    assert error.where == "app.py:14 in index"
    assert "SQLite database is a file on one app server" in error.describe()


def test_a_file_written_beside_the_code_gets_its_hint_and_release_paths_are_shortened():
    error = apperror.last_error(
        DJANGO.split("contrail: app1 release 20261129-1: the app raised while serving /remember/")[0]
    )
    assert error is not None
    assert error.exception == "PermissionError: [Errno 13] Permission denied: '<release>/notes/cache.txt'"
    assert error.where == "notes/views.py:7 in index"
    assert "written beside the code stays on that app server" in error.hint


def test_no_traceback_no_error():
    assert apperror.last_error("[INFO] Booting worker\n") is None
    assert apperror.hint_for("KeyError: 'x'") == ""


def test_each_failed_request_is_found_with_its_path():
    assert apperror.raised(DJANGO + FLASK) == [
        ("/notes/", "PermissionError: [Errno 13] Permission denied: '<release>/notes/cache.txt'"),
        (
            "/remember/",
            'django.db.utils.IntegrityError: duplicate key value violates unique constraint "notes_note_text_key"',
        ),
        ("/", "sqlite3.OperationalError: unable to open database file"),
    ]
