"""Output formats (text, json, sarif, github) against the same fixture: the same finding at the same
1-based position in every format, the summary and statistics, -o FILE, and SARIF schema validity."""
import hashlib
import json
import pathlib

import pytest
from helpers import FIXTURES, ROOT, run_cli

from torchlint.reporters.github_reporter import escape_data, escape_property, format_line
from torchlint.rules import all_rules

BAD = FIXTURES / "TL101" / "bad.py"
REL = "fixtures/TL101/bad.py"
SCHEMA = pathlib.Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
# fixtures/TL101/bad.py line 9: `        self.layers = [nn.Linear(4, 4) for _ in range(3)]  # TL101`
FIRST = {"line": 9, "col": 23, "end_line": 9, "end_col": 58}


def _out(*args, **kw):
    out = run_cli(*args, **kw)
    assert b"Traceback" not in out.stderr, out.stderr.decode()
    return out


def test_text_position_and_summary():
    out = _out("--select", "TL101", REL)
    assert out.returncode == 1
    first = out.stdout.decode().splitlines()[0]
    assert first.startswith(f"{REL}:{FIRST['line']}:{FIRST['col']}: TL101 sub-modules kept in a plain list")
    n = len(out.stdout.decode().splitlines())
    data = json.loads(_out("--output-format", "json", "--select", "TL101", REL).stdout)
    safe = sum(1 for d in data if d["fix"] and d["fix"]["applicability"] == "safe")
    unsafe = sum(1 for d in data if d["fix"] and d["fix"]["applicability"] == "unsafe")
    assert len(data) == n and 0 < safe < n
    more = f", {unsafe} more with --unsafe-fixes" if unsafe else ""
    assert out.stderr.decode().strip() == f"Found {n} findings in 1 file ({safe} fixable{more})"


def test_summary_counts_files_and_unsafe_fixes():
    out = _out("--select", "TL101,TL103", REL, "fixtures/TL103/bad.py")
    summary = out.stderr.decode().strip()
    assert summary.startswith("Found ") and " in 2 files (" in summary and "more with --unsafe-fixes" in summary
    clean = _out(str(FIXTURES / "TL101" / "good.py"))
    assert clean.returncode == 0 and clean.stderr.decode().strip() == "All checks passed (1 file)."
    assert _out("--quiet", REL).stderr == b""


def test_statistics():
    out = _out("--statistics", "--select", "TL101", REL)
    lines = out.stdout.decode().splitlines()
    n = sum(1 for line in lines if ": TL101 " in line)
    assert lines[-1].split() == [str(n), "TL101", "module-in-plain-container", "[*]"]
    # with a machine format the statistics go to stderr so stdout stays valid JSON
    js = _out("--statistics", "--output-format", "json", "--select", "TL101", REL)
    assert len(json.loads(js.stdout)) == n and "TL101" in js.stderr.decode()


def test_json_fields():
    data = json.loads(_out("--output-format", "json", "--select", "TL101,TL103", REL,
                           "fixtures/TL103/bad.py").stdout)
    first = data[0]
    assert set(first) == {"code", "name", "message", "filename", "location", "end_location", "fix", "url"}
    assert first["code"] == "TL101" and first["name"] == "module-in-plain-container"
    assert first["filename"] == REL
    assert first["location"] == {"row": FIRST["line"], "column": FIRST["col"]}
    assert first["end_location"] == {"row": FIRST["end_line"], "column": FIRST["end_col"]}
    assert first["fix"]["applicability"] == "safe"
    edit = first["fix"]["edits"][0]
    assert edit["content"].startswith("nn.ModuleList(")
    # the edit uses the same (1-based) columns as the finding it fixes
    assert edit["location"] == first["location"] and edit["end_location"] == first["end_location"]
    assert first["url"].startswith("https://") and "#" in first["url"]
    assert any(d["fix"] is None for d in data)  # the tuple case has no fix
    assert any(d["fix"] and d["fix"]["applicability"] == "unsafe" for d in data)  # TL103


def test_github_annotations():
    out = _out("--output-format", "github", "--select", "TL101", REL)
    first = out.stdout.decode().splitlines()[0]
    assert first.startswith(f"::warning file={REL},line={FIRST['line']},col={FIRST['col']},"
                            f"endLine={FIRST['end_line']},endColumn={FIRST['end_col']},"
                            f"title=torchlint (TL101)::sub-modules kept in a plain list")


def test_github_escaping():
    assert escape_data("100% a\r\nb") == "100%25 a%0D%0Ab"
    assert escape_property("C:\\a,b%") == "C%3A\\a%2Cb%25"
    line = format_line({"path": "dir,x/a:b.py", "line": 1, "col": 0, "end_line": 2, "end_col": 3,
                        "code": "TL101", "message": "50% off:\nnew, line"})
    assert line == ("::warning file=dir%2Cx/a%3Ab.py,line=1,col=1,endLine=2,endColumn=4,"
                    "title=torchlint (TL101)::50%25 off:%0Anew, line")


@pytest.fixture(scope="module")
def sarif():
    out = _out("--output-format", "sarif", "--select", "ALL", "fixtures/")
    assert out.returncode == 1
    return json.loads(out.stdout)


def test_sarif_validates_against_the_official_schema(sarif):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == \
        "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
    validator = jsonschema.validators.validator_for(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(sarif)


def test_sarif_driver_lists_every_rule(sarif):
    assert sarif["version"] == "2.1.0"
    driver = sarif["runs"][0]["tool"]["driver"]
    from torchlint import __version__

    assert driver["name"] == "torchlint" and driver["version"] == __version__
    by_id = {r["id"]: r for r in driver["rules"]}
    for rule in all_rules():
        d = by_id[rule.code]
        assert d["name"] == rule.name
        assert d["shortDescription"]["text"] == rule.one_line()
        assert d["fullDescription"]["text"]
        assert "## Why is this bad?" in d["help"]["text"] and d["help"]["markdown"]
        assert d["defaultConfiguration"]["level"] in ("warning", "error", "note")


def test_sarif_results(sarif):
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first = next(r for r in run["results"]
                 if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == REL)
    assert first["ruleId"] == "TL101" and rules[first["ruleIndex"]]["id"] == "TL101"
    assert first["level"] == "warning" and first["message"]["text"].startswith("sub-modules kept")
    assert first["locations"][0]["physicalLocation"]["region"] == {
        "startLine": FIRST["line"], "startColumn": FIRST["col"],
        "endLine": FIRST["end_line"], "endColumn": FIRST["end_col"]}
    for result in run["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "\\" not in uri and uri.startswith("fixtures/")
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_uri_is_repository_relative_from_a_subfolder():
    # run from fixtures/: the URI stays relative to the repository root (the folder with .git)
    out = _out("--output-format", "sarif", "TL101/bad.py", cwd=FIXTURES)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(out.stdout)["runs"][0]["results"]}
    assert uris == {REL}


def test_every_format_agrees_on_a_non_ascii_line(tmp_path):
    # columns count characters (code points), not bytes: "ü" is one column, two UTF-8 bytes
    source = BAD.read_text(encoding="utf-8").replace("self.layers = [nn.Linear(4, 4) for _ in range(3)]",
                                                     "self.ü = [nn.Linear(4, 4) for _ in range(3)]")
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    col = len("        self.ü = ") + 1
    text = _out("--select", "TL101", str(path)).stdout.decode().splitlines()[0]
    assert text.startswith(f"{path}:9:{col}: TL101")
    js = json.loads(_out("--output-format", "json", "--select", "TL101", str(path)).stdout)[0]
    assert js["location"] == {"row": 9, "column": col}
    gh = _out("--output-format", "github", "--select", "TL101", str(path)).stdout.decode().splitlines()[0]
    assert f",line=9,col={col}," in gh
    sa = json.loads(_out("--output-format", "sarif", "--select", "TL101", str(path)).stdout)
    assert sa["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"] == col


def test_output_file(tmp_path):
    target = tmp_path / "report.sarif"
    out = _out("--output-format", "sarif", "-o", str(target), REL)
    assert out.returncode == 1 and out.stdout == b""
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"
    bad = _out("-o", str(tmp_path / "missing" / "x.txt"), REL)
    assert bad.returncode == 2 and b"cannot write" in bad.stderr


def test_exit_zero_with_every_format():
    for fmt in ("text", "json", "sarif", "github"):
        assert _out("--exit-zero", "--output-format", fmt, REL).returncode == 0


def test_errors_in_sarif_are_notifications(tmp_path):
    out = _out("--output-format", "sarif", str(tmp_path / "nope.py"))
    assert out.returncode == 2
    run = json.loads(out.stdout)["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["toolExecutionNotifications"][0]["descriptor"]["id"] == "TL002"


def test_unknown_format_is_a_usage_error():
    out = _out("--output-format", "xml", REL)
    assert out.returncode == 2


def test_root_constant():
    assert (ROOT / ".git").exists()
