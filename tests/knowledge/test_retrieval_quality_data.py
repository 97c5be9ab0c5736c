"""The FAQ paraphrases of the retrieval-quality bench each name a row of the shared FAQ, and are
paraphrases, not copies of its questions."""

from __future__ import annotations

import csv
import json

import pytest

from tools.bench.retrieval_quality import MORE_PARAPHRASES, PARAPHRASES, ROOT

FAQ = ROOT.parent / "shared" / "kb_eval" / "corpus" / "faq.csv"


@pytest.mark.parametrize("path", [PARAPHRASES, MORE_PARAPHRASES], ids=["first", "more"])
def test_each_paraphrase_names_a_row_and_differs_from_its_question(path):
    asked = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(asked) >= 30
    assert len({a["q"] for a in asked}) == len(asked)
    if not FAQ.exists():
        pytest.skip("../shared is not beside the repository")
    with FAQ.open(encoding="utf-8") as fh:
        questions = [row[0] for row in list(csv.reader(fh))[1:]]
    for a in asked:
        assert 1 <= a["row"] <= len(questions)
        assert a["q"] not in questions


def test_the_two_sets_do_not_share_a_question():
    first, more = ({json.loads(line)["q"] for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}
                   for p in (PARAPHRASES, MORE_PARAPHRASES))
    assert not first & more
