"""The app's own error, read from an app server's log as Gunicorn, Flask and Contrail's wrapper write it."""

from __future__ import annotations

from contrail.deploy import apperror
from tests.conftest import REPO

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


# Tomcat 10.1's log (the tomcat box's /var/log/supervisor/app.log), recorded on a running environment:
# three deploys through the manager — a .war Tomcat could not read, one that started, one whose servlet
# class is missing — with requests' errors between them.
TOMCAT_LOG = (REPO / "tests" / "fixtures" / "tomcat-deploys.log").read_text()


def test_a_war_tomcat_did_not_start_is_named_by_the_first_error_of_its_deploy() -> None:
    error = apperror.deploy_error(TOMCAT_LOG, "20261129-221631-221561")
    assert error is not None
    assert error.describe() == (
        "java.lang.ClassNotFoundException: example.Gone "
        "(Servlet [gone] in web application [##20261129-221631-221561] threw load() exception)"
    )
    unreadable = apperror.deploy_error(TOMCAT_LOG, "20261129-221120-191329")
    assert unreadable is not None and unreadable.exception == (
        "java.io.FileNotFoundException: /srv/app/releases/20261129-221120-191329/ROOT.war (Permission denied)"
    )


def test_errors_after_a_deploy_or_of_another_version_are_not_its_reason() -> None:
    assert apperror.deploy_error(TOMCAT_LOG, "20261129-221143-077472") is None, "it started"
    assert apperror.deploy_error(TOMCAT_LOG, "20991231-000000-000000") is None, "never installed here"
    assert apperror.deploy_error("Traceback (most recent call last):\n", "r1") is None, "a Gunicorn log"


def test_an_error_without_an_exception_is_named_by_its_message() -> None:
    log = (
        "29-Nov-2026 22:03:05.001 INFO [x] y.log Manager: install: Installing web application '/##r3' from 'file:/w'\n"
        "29-Nov-2026 22:03:05.422 SEVERE [x] org.apache.catalina.core.StandardContext.startInternal "
        "Context [##r3] startup failed due to previous errors\n"
    )
    error = apperror.deploy_error(log, "r3")
    assert error is not None and error.describe() == "Context [##r3] startup failed due to previous errors"
