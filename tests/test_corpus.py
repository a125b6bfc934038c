"""Real code stays quiet: every default-on finding on the pinned corpus is triaged as a true positive,
no file crashes torchlint, and only files that are not valid Python (or that libcst cannot parse) go unlinted.

Skipped when the corpus is not downloaded (`python tools/corpus_check.py --download`; .ci/run does it).
"""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import corpus_check  # noqa: E402

from torchlint.rules import default_rules  # noqa: E402


def _available():
    names = []
    for name in corpus_check.CORPORA:
        try:
            corpus_check.corpus_root(name, download=False)
        except (FileNotFoundError, ValueError):
            continue
        names.append(name)
    return names


AVAILABLE = _available()
pytestmark = pytest.mark.skipif(not set(corpus_check.WHEELS) <= set(AVAILABLE),
                                reason="corpus not downloaded: python tools/corpus_check.py --download")


@pytest.fixture(scope="module")
def corpus_run():
    codes = [r.code for r in default_rules()]
    return corpus_check.run(AVAILABLE, codes, jobs=0, download=False)


def test_every_default_on_finding_is_triaged(corpus_run):
    findings, _not_linted, _stats = corpus_run
    triage = corpus_check.load_triage()
    untriaged = [f"{f['corpus']}/{f['path']}:{f['line']}: {f['code']} {f['message']}" for f in findings
                 if (f["corpus"], f["path"], f["line"], f["code"]) not in triage]
    assert untriaged == []


def test_triage_file_has_no_stale_rows(corpus_run):
    findings, _not_linted, _stats = corpus_run
    seen = {(f["corpus"], f["path"], f["line"], f["code"]) for f in findings}
    stale = [key for key, row in corpus_check.load_triage().items() if key[0] in AVAILABLE and key not in seen]
    assert stale == []
    assert all(row["verdict"] == "tp" and row["reason"].strip() for row in corpus_check.load_triage().values())


def test_fixes_on_real_code_parse_compile_and_are_stable(corpus_run, tmp_path):
    findings, _not_linted, _stats = corpus_run
    stats = corpus_check.fix_roundtrip(findings, [r.code for r in default_rules()], tmp_path)
    assert stats["failures"] == []
    assert stats["changed_files"] >= 1  # the corpus has fixable true positives (TL101, TL206, TL104)


def test_no_crash_and_only_unparsable_files_unlinted(corpus_run):
    _findings, not_linted, stats = corpus_run
    assert [n for n in not_linted if n["code"] not in ("TL001", "TL002")] == []
    assert sum(nfiles for _name, nfiles, _count, _elapsed in stats) > 5000
