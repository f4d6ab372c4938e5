import pytest

from contrail.boxes import hclvars


def test_reads_literals_with_their_lines():
    attrs = hclvars.parse(
        '# comment\nrole = "web"\nports = [80,\n  8404,  # stats\n]\nflag = false\nesc = "a \\"q\\" $${x} %%{y}\\n"\n'
    )
    assert attrs["role"].value == "web" and attrs["role"].line == 2
    assert attrs["ports"].value == [80, 8404]
    assert attrs["flag"].value is False
    assert attrs["esc"].value == 'a "q" ${x} %{y}\n'


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('a = "x"\nb\n', 2, "expected '='"),
        ("a = [1,\n2\n", 1, "unclosed"),
        ('a = "${var.x}"', 1, "templates"),
        ("a = upper(1)", 1, "unexpected '('"),
        ("a = 1 2", 1, "after the value"),
        ("a = 1\na = 2", 2, "set twice"),
        ("a =\n", 1, "missing value"),
    ],
)
def test_rejects_what_is_not_literal_data(text, line, fragment):
    with pytest.raises(hclvars.HclError) as err:
        hclvars.parse(text)
    assert err.value.line == line
    assert fragment in err.value.message
