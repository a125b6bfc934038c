"""The pre-commit hooks: the manifest is valid, and both hooks run end to end through pre-commit on a
temporary git repository.

Offline by design: the end-to-end test runs the manifest's own hook definitions (entry, types_or,
require_serial, args) as a ``repo: local`` hook with ``language: system`` and a ``torchlint`` on PATH that
is this checkout. ``language: python`` (what users get) makes pre-commit build a virtualenv and
pip-install this repository with libcst and flake8 from the package index; that path is covered by
``test_try_repo_with_the_python_language``, which runs only when TORCHLINT_NETWORK_TESTS=1 because it
needs the index and takes longer than the rest of the suite.
"""
import os
import shutil
import subprocess
import sys

import pytest
from helpers import FIXTURES, ROOT

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")


def _pre_commit(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=300)


def _hooks():
    yaml = pytest.importorskip("yaml")
    return {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))}


@pytest.fixture
def env(tmp_path):
    pytest.importorskip("pre_commit")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "torchlint"
    launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m torchlint \"$@\"\n")
    launcher.chmod(0o755)
    environ = dict(os.environ)
    environ.update(PATH=f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}", PRE_COMMIT_HOME=str(tmp_path / "cache"),
                   PYTHONPATH=str(ROOT) + os.pathsep + environ.get("PYTHONPATH", ""),
                   GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
    environ.pop("PRE_COMMIT", None)
    return environ


def test_manifest_is_valid():
    pytest.importorskip("pre_commit")
    out = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_manifest_hooks():
    hooks = _hooks()
    assert set(hooks) == {"torchlint", "torchlint-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert sorted(hook["types_or"]) == ["jupyter", "pyi", "python"]
        assert hook["require_serial"] is True
        assert hook["entry"].startswith("torchlint")
    assert "--fix" in hooks["torchlint-fix"]["entry"] and "--fix" not in hooks["torchlint"]["entry"]


def _local_repo(tmp_path, env, hook_id):
    hook = _hooks()[hook_id]
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    (repo / "model.py").write_bytes((FIXTURES / "TL101" / "bad.py").read_bytes())
    (repo / "stub.pyi").write_text("import torch\n")
    (repo / "notes.txt").write_text("self.layers = [nn.Linear(4, 4)]\n")
    (repo / "pyproject.toml").write_text('[tool.torchlint]\nextend-exclude = ["vendored"]\n')
    (repo / "vendored").mkdir()
    (repo / "vendored" / "v.py").write_bytes((FIXTURES / "TL101" / "bad.py").read_bytes())
    local = {key: hook[key] for key in ("id", "name", "entry", "types_or", "require_serial") if key in hook}
    local["language"] = "system"
    lines = ["repos:", "- repo: local", "  hooks:", f"  - id: {local['id']}", f"    name: {local['name']}",
             f"    entry: {local['entry']}", "    language: system",
             f"    types_or: [{', '.join(local['types_or'])}]",
             f"    require_serial: {str(local['require_serial']).lower()}"]
    (repo / ".pre-commit-config.yaml").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
    return repo


def test_check_hook_end_to_end(tmp_path, env):
    repo = _local_repo(tmp_path, env, "torchlint")
    out = _pre_commit("run", "--all-files", cwd=repo, env=env)
    text = out.stdout.decode()
    assert out.returncode == 1, text
    assert "model.py:9:23: TL101" in text
    assert "vendored" not in text  # excludes from pyproject.toml apply to the files pre-commit passes
    assert "Traceback" not in text
    assert "notes.txt" not in text


def test_fix_hook_end_to_end(tmp_path, env):
    repo = _local_repo(tmp_path, env, "torchlint-fix")
    before = (repo / "model.py").read_text()
    out = _pre_commit("run", "--all-files", cwd=repo, env=env)
    text = out.stdout.decode()
    assert out.returncode == 1, text  # files were modified (and an unfixable finding remains)
    after = (repo / "model.py").read_text()
    assert after != before and "nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])" in after
    assert (repo / "vendored" / "v.py").read_text() == before  # excluded: untouched
    assert "files were modified by this hook" in text


@pytest.mark.skipif(os.environ.get("TORCHLINT_NETWORK_TESTS") != "1",
                    reason="needs the package index to build the hook's virtualenv (set TORCHLINT_NETWORK_TESTS=1)")
def test_try_repo_with_the_python_language(tmp_path, env):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    (repo / "model.py").write_bytes((FIXTURES / "TL101" / "bad.py").read_bytes())
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
    out = _pre_commit("try-repo", str(ROOT), "torchlint", "--files", "model.py", cwd=repo, env=env)
    assert out.returncode == 1 and b"model.py:9:23: TL101" in out.stdout, out.stdout + out.stderr


def test_readme_snippet_uses_the_manifest_hooks():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```yaml\n# \.pre-commit-config\.yaml\n(.*?)```", readme, re.S)
    snippet = next(s for s in snippets if "rev:" in s)  # the remote form uses this manifest's hooks
    ids = set(re.findall(r"id: ([\w-]+)", snippet))
    assert ids == set(_hooks())
