from contrail.remote import Output, last_line


def test_a_python_failure_is_reported_with_its_file_and_line():
    stdout = """*** Error compiling './visits/views.py'...
  File "./visits/views.py", line 19
    def broken(:
               ^
SyntaxError: invalid syntax
"""
    assert last_line(Output(False, stdout, "")) == "visits/views.py:19: SyntaxError: invalid syntax"


def test_a_traceback_names_the_innermost_frame():
    stderr = """Traceback (most recent call last):
  File "<string>", line 5, in <module>
  File "/srv/app/releases/r1/visits/views.py", line 18, in <module>
NameError: name 'undefined_name' is not defined
"""
    assert last_line(Output(False, "", stderr)) == (
        "/srv/app/releases/r1/visits/views.py:18: NameError: name 'undefined_name' is not defined"
    )


def test_plain_shell_errors_are_the_last_line():
    assert last_line(Output(False, "", "rsync: connection refused\n")) == "rsync: connection refused"
    assert last_line(Output(False, "", "")) == "(no output)"
