"""Real code stays quiet: every default-on finding on whatever part of the pinned corpus is present is triaged as
a true positive (tests/corpus_triage.tsv), no finding triaged false comes back, no file crashes torchlint, and only
files that are not valid Python (or that libcst cannot parse) go unlinted.

Skipped when the corpus is not downloaded (`python tools/corpus_check.py --download`; .ci/run downloads the fixed
CI slice, `corpus_check.CI_SLICE`). The whole corpus is the tool's job: `python tools/corpus_check.py`.
"""
import collections
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import corpus_check  # noqa: E402

from torchlint.rules import all_rules, default_rules  # noqa: E402

AVAILABLE = corpus_check.available()
DEFAULT_ON = {r.code for r in default_rules()}
needs_corpus = pytest.mark.skipif(not set(corpus_check.WHEELS) <= set(AVAILABLE),
                                  reason="corpus not downloaded: python tools/corpus_check.py --download")


@pytest.fixture(scope="module")
def corpus_run():
    return corpus_check.run(AVAILABLE, sorted(DEFAULT_ON), jobs=0, download=False)


@needs_corpus
def test_every_default_on_finding_is_triaged_true(corpus_run):
    findings, _not_linted, _stats = corpus_run
    triage = corpus_check.load_triage()
    untriaged = [f"{f['corpus']}/{f['path']}:{f['line']}: {f['code']} {f['message']}" for f in findings
                 if corpus_check.key_of(f) not in triage]
    false = [f"{f['corpus']}/{f['path']}:{f['line']}: {f['code']} ({triage[corpus_check.key_of(f)]['reason']})"
             for f in findings if triage.get(corpus_check.key_of(f), {}).get("verdict") == "fp"]
    assert untriaged == []
    assert false == []


@needs_corpus
def test_triage_file_has_no_stale_true_rows(corpus_run):
    findings, _not_linted, _stats = corpus_run
    seen = {corpus_check.key_of(f) for f in findings}
    stale = [key for key, row in corpus_check.load_triage().items()
             if key[0] in AVAILABLE and key[3] in DEFAULT_ON and row["verdict"] == "tp" and key not in seen]
    assert stale == []


@needs_corpus
def test_fixes_on_real_code_parse_compile_and_are_stable(corpus_run, tmp_path):
    findings, _not_linted, _stats = corpus_run
    stats = corpus_check.fix_roundtrip(findings, sorted(DEFAULT_ON), tmp_path)
    assert stats["failures"] == []
    assert stats["changed_files"] >= 1  # the corpus has fixable true positives (TL101, TL206, TL104)


@needs_corpus
def test_no_crash_and_only_unparsable_files_unlinted(corpus_run):
    _findings, not_linted, stats = corpus_run
    assert [n for n in not_linted if n["code"] not in ("TL001", "TL002")] == []
    assert sum(nfiles for _name, nfiles, _count, _elapsed in stats) > 5000


def test_triage_rows_are_well_formed():
    rows = corpus_check.load_triage()
    assert rows
    codes = {r.code for r in all_rules()}
    for (package, path, line, code), row in rows.items():
        assert package in corpus_check.HALF, package
        assert code in codes and line > 0 and path.endswith(".py")
        assert row["verdict"] in ("tp", "fp") and row["reason"].strip(), (package, path, line, code)


def test_split_is_fixed_by_name():
    """The 35 packages sorted by name, alternately tuning and validation; the first corpus is tuning."""
    names = sorted(corpus_check.PACKAGES)
    assert len(names) == 35
    expected = ["tuning" if i % 2 == 0 else "validation" for i in range(len(names))]
    assert [corpus_check.HALF[n] for n in names] == expected
    assert all(corpus_check.HALF[n] == "tuning" for n in (*corpus_check.WHEELS, "torch", "stdlib"))
    assert set(corpus_check.CI_SLICE) <= set(corpus_check.CORPORA)
    # CI's fresh environment downloads wheels only (an sdist would need its metadata prepared there)
    assert all(n in corpus_check.WHEELS or corpus_check.PACKAGES[n][1] == "wheel" for n in corpus_check.CI_SLICE)
    halves = collections.Counter(corpus_check.HALF[n] for n in corpus_check.CI_SLICE)
    assert halves["tuning"] and halves["validation"]  # CI re-checks both halves


def test_left_out_packages_have_a_reason():
    for name, (requirement, archive, _half) in corpus_check.PACKAGES.items():
        assert requirement.startswith(name + "==")
        assert archive in ("wheel", "sdist") or corpus_check.LEFT_OUT.get(name)
