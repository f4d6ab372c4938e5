"""The machine-readable parser, against output recorded from the real Packer 1.6.6."""

from pathlib import Path

from contrail.tools import packer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "packer"


def events(name: str) -> list[packer.PackerEvent]:
    return [e for e in map(packer.parse_line, (FIXTURES / name).read_text().splitlines()) if e]


def test_parse_line_unescapes_commas_and_newlines():
    event = packer.parse_line("1795669049,docker.box,ui,say,a%!(PACKER_COMMA) b\\nc")
    assert event == packer.PackerEvent(1795669049, "docker.box", "ui", ("say", "a, b\nc"))
    assert packer.parse_line("$ packer build x") is None


def test_successful_build_yields_the_image_id():
    result = packer.summarize(events("build-ok.log"))
    assert result.artifact_id == "sha256:6ac155604ef4581835003c75384d196ae1bbc84d5646b80e60f3b346709a83eb"
    assert result.errors == ()
    assert result.last_step == "cleanup.sh"


def test_failed_build_names_the_script_and_what_it_printed():
    result = packer.summarize(events("build-script-failed.log"))
    assert result.artifact_id is None
    assert result.last_step == "db.sh"
    assert "non-zero exit status: 2" in result.errors[0]
    assert "unexpected EOF" in (result.last_output or "")


def test_validation_errors_become_file_and_line():
    message = packer.validation_message(events("validate-missing-separator.log"))
    assert message == (
        "boxes/roles/bad.pkrvars.hcl:4: Missing item separator: "
        "Expected a comma to mark the beginning of the next item."
    )
    message = packer.validation_message(events("validate-no-argument.log"))
    assert message is not None and message.startswith(
        "boxes/roles/bad2.pkrvars.hcl:2: Argument or block definition required"
    )


def test_human_lines_are_the_ui_text():
    lines = [packer.human_line(e) for e in events("build-ok.log")]
    assert "==> docker.box: Provisioning with shell script: /work/main/provision_scripts/web.sh" in lines
