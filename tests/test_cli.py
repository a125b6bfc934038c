"""The command line: output, exit codes, stdin, selection, noqa, bad input."""
import json

from helpers import FIXTURES, ROOT, run_cli

BAD = FIXTURES / "TL101" / "bad.py"
NEAR = FIXTURES / "TL101" / "near_miss.py"


def test_findings_exit_1_and_sorted_text():
    out = run_cli(str(FIXTURES))
    assert out.returncode == 1, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines and all(": TL" in line for line in lines)
    keys = [(line.split(":")[0], int(line.split(":")[1]), int(line.split(":")[2])) for line in lines]
    assert keys == sorted(keys)
    assert b"Found" in out.stderr


def test_clean_exit_0():
    out = run_cli(str(NEAR))
    assert out.returncode == 0, out.stdout
    assert out.stdout == b""


def test_exit_zero():
    assert run_cli("--exit-zero", str(BAD)).returncode == 0


def test_check_subcommand_and_module_entry():
    a = run_cli("check", str(BAD))
    b = run_cli(str(BAD))
    assert a.stdout == b.stdout and a.returncode == b.returncode == 1


def test_stdin_with_filename():
    out = run_cli("-", "--stdin-filename", "model.py", input=BAD.read_bytes())
    assert out.returncode == 1
    assert out.stdout.decode().startswith("model.py:9:23: TL101 ")


def test_select_and_ignore():
    assert run_cli("--ignore", "TL101", str(BAD)).returncode == 0
    assert run_cli("--select", "TL2", str(BAD)).returncode == 0
    assert run_cli("--select", "TL101", str(BAD)).returncode == 1


def test_unknown_code_is_a_usage_error():
    out = run_cli("--select", "XX9", str(BAD))
    assert out.returncode == 2 and b"unknown rule code" in out.stderr and b"Traceback" not in out.stderr


def test_syntax_error_one_line_and_run_goes_on(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\ndef f(:\n")
    out = run_cli(str(broken), str(BAD))
    text = out.stdout.decode()
    assert f"{broken}:2:" in text and "TL001 syntax error" in text
    assert "TL101" in text and b"Traceback" not in out.stderr
    assert out.returncode == 1


def test_missing_file_exit_2():
    out = run_cli("does/not/exist.py")
    assert out.returncode == 2 and b"Traceback" not in out.stderr


def test_directory_walk_skips_virtualenvs_and_caches(tmp_path):
    code = BAD.read_text()
    for folder in (".venv/lib", "build", "__pycache__", "node_modules", "pkg"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.py").write_text(code)
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("")
    (tmp_path / "env" / "m.py").write_text(code)
    out = run_cli(str(tmp_path), "--output-format", "json")
    files = {d["filename"] for d in json.loads(out.stdout)}
    assert files == {str(tmp_path / "pkg" / "m.py")}


def test_json_output_columns_are_1_based():
    data = json.loads(run_cli("--output-format", "json", str(BAD)).stdout)
    first = data[0]
    assert first["code"] == "TL101" and first["name"] == "module-in-plain-container"
    assert first["location"] == {"row": 9, "column": 23}


def test_rule_docs_command():
    out = run_cli("rule", "TL101")
    assert out.returncode == 0
    text = out.stdout.decode()
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
        assert section in text
    assert run_cli("rule", "TL999").returncode == 2
    listing = run_cli("rules").stdout.decode()
    assert "TL101" in listing and "TL201" in listing


def test_version_and_help():
    assert run_cli("--version").returncode == 0
    assert run_cli("--help").returncode == 0


def test_parallel_and_serial_agree():
    serial = run_cli("-j", "1", str(FIXTURES))
    parallel = run_cli("-j", "2", str(FIXTURES))
    assert serial.stdout == parallel.stdout


def test_readme_first_command_job():
    # `torchlint fixtures/` from the repository root prints findings and exits 1
    out = run_cli("fixtures/", cwd=ROOT)
    assert out.returncode == 1 and out.stdout


def test_rules_listing_text_and_json():
    from torchlint.rules import all_rules

    text = run_cli("rules").stdout.decode().splitlines()
    assert text[0].split() == ["Code", "Name", "Default", "Fix"]
    rows = {line.split()[0]: line.split() for line in text[1:]}
    data = json.loads(run_cli("rules", "--output-format", "json").stdout)
    by_code = {d["code"]: d for d in data}
    for rule in all_rules():
        row = rows[rule.code]
        assert row[1] == rule.name
        assert row[2] == ("on" if rule.default_enabled else "off")
        assert row[3] == (rule.fix_availability or "-")
        d = by_code[rule.code]
        assert d["name"] == rule.name and d["default"] is rule.default_enabled
        assert d["fix"] == rule.fix_availability and d["summary"] == rule.one_line()


def test_rule_json_has_every_section():
    for code in ("TL101", "module-in-plain-container", "tl101"):
        out = run_cli("rule", code, "--output-format", "json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["code"] == "TL101"
        for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety"):
            assert data["sections"][section].strip()
    out = run_cli("rule", "TL999", "--output-format", "json")
    assert out.returncode == 2 and b"unknown rule" in out.stderr and b"Traceback" not in out.stderr
