"""The check `make mutate` ends with: every survivor needs a verdict in the document."""

from __future__ import annotations

import json

from tests.mutation_report import markdown, results, summarise, verdicts


def test_a_survivor_without_an_equivalent_verdict_is_open_and_a_verdict_for_a_kill_stale(
    tmp_path,
):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "tokens.py.meta").write_text(json.dumps({"exit_code_by_key": {
        "shared.accounts.reset_tokens.x_issue__mutmut_1": 1,  # killed
        "shared.accounts.reset_tokens.x_issue__mutmut_2": 0,  # survived, explained
        "shared.accounts.reset_tokens.x_issue__mutmut_3": 0,  # survived, not explained
        "shared.accounts.reset_tokens.x_issue__mutmut_4": 36,  # timeout: killed
        "shared.accounts.reset_tokens.x_issue__mutmut_5": None,  # not run
    }}))  # fmt: skip
    doc = tmp_path / "doc.md"
    doc.write_text(
        "| mutant | verdict | why |\n|---|---|---|\n"
        "| `shared.accounts.reset_tokens.x_issue__mutmut_2` | equivalent | unused default |\n"
        "| `shared.accounts.reset_tokens.x_issue__mutmut_1` | equivalent | was, once |\n"
        "| `shared.accounts.reset_tokens.x_issue__mutmut_3` | a stopped clock | what it needs |\n"
    )
    summary = summarise(results(tmp_path), verdicts(doc))
    assert summary["open"] == ["shared.accounts.reset_tokens.x_issue__mutmut_3"]
    assert summary["stale"] == ["shared.accounts.reset_tokens.x_issue__mutmut_1"]
    assert dict(summary["rows"]["shared.accounts.reset_tokens"]) == {
        "mutants": 5, "killed": 2, "equivalent": 1, "open": 1, "not run": 1,
    }  # fmt: skip
    table = markdown(summary)
    assert "| `shared.accounts.reset_tokens` | 5 | 2 | 1 | 1 | 1 | 0 |" in table
    assert "Score: 2 of 3 non-equivalent mutants run are killed (66.7 %)." in table
