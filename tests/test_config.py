"""[tool.torchlint] in pyproject.toml: discovery, every key, merging with the command line, errors."""
import textwrap

import pytest
from helpers import FIXTURES, run_cli

BAD101 = (FIXTURES / "TL101" / "bad.py").read_text(encoding="utf-8")
BAD103 = (FIXTURES / "TL103" / "bad.py").read_text(encoding="utf-8")


def codes(out):
    assert b"Traceback" not in out.stderr, out.stderr.decode()
    return {line.split(": ", 1)[1].split()[0] for line in out.stdout.decode().splitlines() if ": TL" in line}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(BAD101, encoding="utf-8")
    (tmp_path / "pkg" / "b.py").write_text(BAD103, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(BAD101, encoding="utf-8")
    return tmp_path


def config(root, body, name="pyproject.toml"):
    (root / name).write_text(textwrap.dedent(body), encoding="utf-8")


def test_no_config_uses_defaults(project):
    assert {"TL101", "TL103"} <= codes(run_cli(".", cwd=project))


def test_select_found_by_walking_up_from_the_first_path(project):
    config(project, """
        [project]
        name = "x"
        [tool.torchlint]
        select = ["TL103"]
    """)
    # run from elsewhere: the configuration is found from the path, not the working directory
    assert codes(run_cli(str(project / "pkg"), cwd=FIXTURES)) == {"TL103"}
    assert codes(run_cli(str(project / "pkg" / "a.py"), cwd=FIXTURES)) == set()


def test_nearest_pyproject_without_torchlint_table_is_skipped(project):
    config(project, '[tool.torchlint]\nselect = ["TL103"]\n')
    (project / "pkg" / "pyproject.toml").write_text('[tool.black]\nline-length = 100\n')
    assert codes(run_cli("pkg", cwd=project)) == {"TL103"}


def test_ignore_and_extend_select_prefixes(project):
    config(project, '[tool.torchlint]\nignore = ["TL1"]\nextend-select = ["TL103"]\n')
    # the more specific selector wins, as in ruff
    assert codes(run_cli("pkg", cwd=project)) == {"TL103"}
    config(project, '[tool.torchlint]\nselect = ["ALL"]\nignore = ["TL10"]\n')
    assert not {c for c in codes(run_cli("pkg", cwd=project)) if c.startswith("TL10")}


def test_command_line_select_replaces_and_ignore_adds(project):
    config(project, '[tool.torchlint]\nselect = ["TL103"]\nignore = ["TL101"]\n')
    assert codes(run_cli("--select", "TL101", "pkg", cwd=project)) == {"TL101"}
    assert codes(run_cli("--ignore", "TL103", "pkg", cwd=project)) == set()
    assert codes(run_cli("--extend-select", "TL101", "pkg", cwd=project)) == {"TL103"}  # config ignore wins


def test_per_file_ignores(project):
    config(project, """
        [tool.torchlint]
        per-file-ignores = { "tests/*" = ["TL101"], "b.py" = ["TL1"] }
    """)
    out = run_cli(".", "--output-format", "json", cwd=project)
    import json

    found = {(d["filename"].replace("\\\\", "/"), d["code"]) for d in json.loads(out.stdout)}
    assert not any(f.startswith("tests/") for f, _ in found)
    assert not any(f.endswith("b.py") and c.startswith("TL1") for f, c in found)
    assert any(f.endswith("a.py") and c == "TL101" for f, c in found)


def test_per_file_ignores_are_not_fixed(project):
    config(project, '[tool.torchlint]\nper-file-ignores = { "pkg/a.py" = ["TL101"] }\n')
    before = (project / "pkg" / "a.py").read_text()
    run_cli("--fix", "pkg/a.py", cwd=project)
    assert (project / "pkg" / "a.py").read_text() == before


def test_exclude_and_extend_exclude(project):
    config(project, '[tool.torchlint]\nextend-exclude = ["tests"]\n')
    out = run_cli(".", "--output-format", "json", cwd=project)
    assert b"tests" not in out.stdout and b"a.py" in out.stdout
    # explicitly named files are excluded too (what a pre-commit hook passes)
    assert run_cli("tests/t.py", cwd=project).stdout == b""
    # `exclude` replaces the defaults: build/ is linted again, pkg/ is not
    (project / "build").mkdir()
    (project / "build" / "m.py").write_text(BAD101)
    config(project, '[tool.torchlint]\nexclude = ["pkg"]\n')
    out = run_cli(".", "--output-format", "json", cwd=project).stdout
    assert b"build" in out and b"pkg" not in out


def test_stdin_filename_applies_per_file_ignores_and_excludes(project):
    config(project, '[tool.torchlint]\nper-file-ignores = { "tests/*" = ["TL101"] }\nextend-exclude = ["gen"]\n')
    data = BAD101.encode()
    assert run_cli("-", "--stdin-filename", "pkg/x.py", input=data, cwd=project).returncode == 1
    ignored = run_cli("-", "--stdin-filename", "tests/x.py", input=data, cwd=project)
    assert ignored.returncode == 0 and ignored.stdout == b""
    excluded = run_cli("-", "--stdin-filename", "gen/x.py", input=data, cwd=project)
    assert excluded.returncode == 0 and excluded.stdout == b""
    # --fix on an excluded stdin file echoes the source unchanged
    echoed = run_cli("--fix", "-", "--stdin-filename", "gen/x.py", input=data, cwd=project)
    assert echoed.stdout == data


def test_config_file_option_and_isolated(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg")
    config(other, 'select = ["TL103"]\n', name="torchlint.toml")
    config(project, '[tool.torchlint]\nselect = ["TL101"]\n')
    assert codes(run_cli("--config", str(other / "torchlint.toml"), "pkg", cwd=project)) == {"TL103"}
    assert {"TL101", "TL103"} <= codes(run_cli("--isolated", "pkg", cwd=project))
    both = run_cli("--isolated", "--config", str(other / "torchlint.toml"), "pkg", cwd=project)
    assert both.returncode == 2 and b"cannot be used together" in both.stderr
    missing = run_cli("--config", str(other / "nope.toml"), "pkg", cwd=project)
    assert missing.returncode == 2 and b"not found" in missing.stderr


@pytest.mark.parametrize("body, message", [
    ('[tool.torchlint]\nselct = ["TL1"]\n', b"unknown key 'selct'"),
    ('[tool.torchlint]\nselect = ["XX1"]\n', b"unknown rule code or prefix: 'XX1'"),
    ('[tool.torchlint]\nignore = ["TL999"]\n', b"unknown rule code or prefix: 'TL999'"),
    ('[tool.torchlint]\nselect = "TL1"\n', b"must be a list of strings"),
    ('[tool.torchlint]\nper-file-ignores = ["x"]\n', b"per-file-ignores must be a table"),
    ('[tool.torchlint]\nper-file-ignores = { "a.py" = ["ZZ"] }\n', b"unknown rule code or prefix: 'ZZ'"),
    ('[tool.torchlint\nselect = 1\n', b"invalid TOML"),
])
def test_configuration_errors_exit_2_without_traceback(project, body, message):
    config(project, body)
    out = run_cli("pkg", cwd=project)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and b"pyproject.toml" in out.stderr
    assert b"Traceback" not in out.stderr


def test_readme_configuration_example_is_valid(tmp_path):
    import re

    from helpers import ROOT

    from torchlint.config import read_config

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[tool\.torchlint\].*?)```", readme, re.S).group(1)
    (tmp_path / "pyproject.toml").write_text(block, encoding="utf-8")
    cfg = read_config(str(tmp_path / "pyproject.toml"))
    assert cfg.select == ["TL"] and cfg.per_file_ignores and cfg.exclude and cfg.extend_exclude
