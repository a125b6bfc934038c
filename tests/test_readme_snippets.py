"""Every snippet in README.md works as written, checked offline.

Shell commands run in a temporary project (a copy of fixtures/ and pyproject.toml, plus src/model.py)
with `torchlint`, `flake8` and `python` on PATH meaning this checkout; what needs the network is validated
instead (a pip requirement must name this repository and existing extras, a remote pre-commit repo must
pass `pre-commit validate-config`). YAML, TOML, INI and JSON snippets are parsed and then used: the
pre-commit `repo: local` config runs through pre-commit, `[tool.torchlint]` is read by torchlint's own
loader, flake8's `[flake8]` section drives flake8, editor settings must start a working `torchlint server`.
A snippet in a language this file does not know fails the test, so a new snippet cannot go unchecked.
"""
import ast
import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from helpers import FIXTURES, ROOT

from torchlint.docs import REPOSITORY_URL

README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]+)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
LANGS = ("sh", "yaml", "toml", "ini", "json", "python", "lua", "elisp")


def snippets():
    out = []
    for match in FENCE.finditer(README):
        indent = len(match.group("indent"))
        body = "".join(line[indent:] if line[:indent].strip() == "" else line
                       for line in match.group("body").splitlines(keepends=True))
        line = README.count("\n", 0, match.start()) + 1
        out.append(pytest.param(match.group("lang"), body, id=f"L{line}-{match.group('lang')}"))
    return out


SNIPPETS = snippets()


def _extras():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]["optional-dependencies"]


# ---------------------------------------------------------------------------------------- the sandbox
@pytest.fixture
def project(tmp_path):
    """A temporary project: fixtures/, this repository's pyproject.toml, src/model.py; and a bin/ folder with
    torchlint, flake8 and python meaning this checkout."""
    work = tmp_path / "project"
    shutil.copytree(FIXTURES, work / "fixtures")
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    (work / "src").mkdir()
    shutil.copy(FIXTURES / "TL101" / "bad.py", work / "src" / "model.py")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, module in (("torchlint", "torchlint"), ("flake8", "flake8"), ("pre-commit", "pre_commit")):
        launcher = bin_dir / name
        launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m {module} \"$@\"\n", encoding="utf-8")
        launcher.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
               HOME=str(tmp_path), PRE_COMMIT_HOME=str(tmp_path / "pre-commit-cache"), GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
    env.pop("PRE_COMMIT", None)
    return work, env


def _bash(command, work, env, timeout=300, stdin=subprocess.DEVNULL):
    return subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, timeout=timeout,
                          stdin=stdin)


# ---------------------------------------------------------------------------------------- shell
def check_pip_install(words):
    """A `pip install` the test cannot run offline: it must name this checkout or this repository, with
    extras that exist."""
    from packaging.requirements import Requirement

    extras = _extras()
    targets = [w for w in words[2:] if w not in ("-e", "--editable", "-U", "--upgrade")]
    assert targets, words
    for target in targets:
        if target.startswith("."):
            req = Requirement("torchlint" + target[1:])
        else:
            req = Requirement(target)
            assert req.url == f"git+{REPOSITORY_URL}", f"install from this repository, not {req.url!r}"
        assert req.name == "torchlint"
        assert set(req.extras) <= set(extras), f"unknown extras {req.extras}"


def check_tool(words, work, env):
    """`python tools/X.py ...`: the tool exists and accepts every option used (running it needs the corpus)."""
    script = ROOT / words[1]
    assert script.is_file(), words
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    for word in words[2:]:
        if word.startswith("--"):
            assert word.split("=")[0] in out.stdout, f"{words[1]} has no option {word}"


def run_shell_line(line, work, env):
    """One README command line (possibly `a && b`, a pipe or redirections)."""
    words = shlex.split(line, comments=True)
    if not words:
        return
    parts, current = [], []
    for word in words:
        if word == "&&":
            parts.append(current)
            current = []
        else:
            current.append(word)
    parts.append(current)
    rest = []
    for part in parts:
        if part[:2] == ["pip", "install"]:
            check_pip_install(part)
        elif part == ["pytest"]:
            assert any(r.startswith("pytest") for r in _extras()["test"])  # we are that command
        elif part[:2] == ["git", "clone"]:
            assert part[2] == REPOSITORY_URL
        elif len(part) > 1 and part[0] == "python" and part[1].startswith("tools/"):
            check_tool(part, work, env)
        else:
            rest.append(part)
    if not rest:
        return
    # run the line as written; when a part of it was only validated (pip install), the parts after it
    text = line if len(rest) == len(parts) else " && ".join(shlex.join(part) for part in rest)
    first = rest[0]
    if first[:2] == ["torchlint", "server"]:
        out = _bash(text, work, env, timeout=120)
        assert out.returncode == 0, out.stderr
        return
    out = _bash(text, work, env)
    assert out.returncode in (0, 1), f"{text!r} exited {out.returncode}: {out.stderr.decode()[-2000:]}"
    assert b"Traceback" not in out.stderr
    if first == ["torchlint", "fixtures/"]:  # the demo: exits 1, and no fixed.py is shown as a mistake
        assert out.returncode == 1 and b"bad.py" in out.stdout and b"fixed.py" not in out.stdout


def check_sh(body, work, env):
    for line in body.splitlines():
        run_shell_line(line, work, env)


# ---------------------------------------------------------------------------------------- yaml
def check_yaml(body, work, env):
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(body)
    if isinstance(data, dict) and "repos" in data:
        check_pre_commit(body, data, work, env)
    elif isinstance(data, dict) and "jobs" in data:
        for job in data["jobs"].values():
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]
                else:
                    run_shell_line(step["run"], work, env)
    else:
        pytest.fail(f"a YAML snippet this test does not know how to check: {body[:80]!r}")


def check_pre_commit(body, data, work, env):
    pytest.importorskip("pre_commit")
    config = work / ".pre-commit-config.yaml"
    config.write_text(body, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(config)], cwd=work, env=env,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    manifest = {h["id"] for h in __import__("yaml").safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for repo in data["repos"]:
        if repo["repo"] == "local":
            continue
        assert repo["repo"] == REPOSITORY_URL and repo.get("rev"), repo
        assert {h["id"] for h in repo["hooks"]} <= manifest
    if not any(repo["repo"] == "local" for repo in data["repos"]):
        return  # a remote repo needs the network: validated above
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    for cmd in (["git", "init", "-q"], ["git", "add", "src/model.py", ".pre-commit-config.yaml"]):
        subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--files", "src/model.py"], cwd=work, env=env,
                         capture_output=True, timeout=300)
    text = out.stdout.decode()
    assert out.returncode == 1 and "TL101" in text and "src/model.py" in text, text + out.stderr.decode()


# ---------------------------------------------------------------------------------------- toml, ini, json
def check_toml(body, work, env):
    import tomllib

    data = tomllib.loads(body)
    if "tool" in data and "torchlint" in data["tool"]:
        from torchlint.config import read_config

        path = work / "pyproject.toml"
        path.write_text(body, encoding="utf-8")
        read_config(str(path))  # raises ConfigError on an unknown key or code
        out = _bash("torchlint check --no-cache src/", work, env)
        assert out.returncode in (0, 1), out.stderr
    elif "language-server" in data:  # Helix's languages.toml
        server = data["language-server"]["torchlint"]
        check_server_command([server["command"], *server["args"]], env)
        python = next(lang for lang in data["language"] if lang["name"] == "python")
        assert "torchlint" in python["language-servers"]
    else:
        pytest.fail(f"a TOML snippet this test does not know how to check: {body[:80]!r}")


def check_server_command(argv, env):
    assert argv == ["torchlint", "server"], argv
    out = subprocess.run([*argv, "--help"], env=env, capture_output=True, timeout=120)
    assert out.returncode == 0 and b"usage: torchlint server" in out.stdout, out.stderr


def check_ini(body, work, env):
    parser = configparser.ConfigParser()
    parser.read_string(body)
    assert parser.sections() == ["flake8"], parser.sections()
    (work / "setup.cfg").write_text(body, encoding="utf-8")
    (work / "tests").mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "TL101" / "bad.py", work / "tests" / "test_model.py")
    out = _bash("flake8 src/ tests/", work, env)
    assert out.returncode == 1, out.stderr
    text = out.stdout.decode()
    assert "src/model.py" in text and ": TL101 " in text
    assert ": TL1" not in "".join(line for line in text.splitlines() if line.startswith("tests/"))


def check_json(body, work, env):
    data = json.loads(body)
    if "glspc.server.command" in data:
        check_server_command([data["glspc.server.command"], *data["glspc.server.commandArguments"]], env)
        assert data["glspc.server.languageId"] == ["python"]
    elif "flake8.importStrategy" in data:
        assert data["flake8.importStrategy"] == "fromEnvironment"
    else:
        pytest.fail(f"a JSON snippet this test does not know how to check: {body[:80]!r}")


# ---------------------------------------------------------------------------------------- code
def check_python(body, work, env):
    ast.parse(body)


def _balanced(body, pairs):
    stack = []
    in_string = None
    for ch in body:
        if in_string:
            if ch == in_string:
                in_string = None
            continue
        if ch in "\"":
            in_string = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in pairs.values():
            assert stack and stack.pop() == ch, body
    assert not stack and in_string is None, body


def check_lua(body, work, env):
    if shutil.which("luac"):
        script = work / "snippet.lua"
        script.write_text(body, encoding="utf-8")
        out = subprocess.run(["luac", "-p", str(script)], capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
    _balanced(body, {"(": ")", "{": "}", "[": "]"})
    assert '{ "torchlint", "server" }' in body


def check_elisp(body, work, env):
    if shutil.which("emacs"):
        out = subprocess.run(["emacs", "--batch", "--eval", f"(with-temp-buffer (insert {json.dumps(body)}) "
                              "(goto-char (point-min)) (while (ignore-errors (read (current-buffer)))))"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
    _balanced(body, {"(": ")"})
    assert '("torchlint" "server")' in body


CHECKS = {"sh": check_sh, "yaml": check_yaml, "toml": check_toml, "ini": check_ini, "json": check_json,
          "python": check_python, "lua": check_lua, "elisp": check_elisp}


def test_every_snippet_has_a_checker():
    assert SNIPPETS
    langs = {p.values[0] for p in SNIPPETS}
    assert langs <= set(CHECKS), f"README snippets in {langs - set(CHECKS)}: teach this test to check them"
    assert README.count("```") == 2 * len(SNIPPETS), "an unlabelled or unparsed code fence"


@pytest.mark.parametrize("lang, body", SNIPPETS)
def test_snippet(lang, body, project):
    work, env = project
    CHECKS[lang](body, work, env)
