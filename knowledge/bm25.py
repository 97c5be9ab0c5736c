"""An incremental BM25 (Okapi) index over jieba/bigram tokens, with numpy postings.

Chunks can be added and removed one document at a time (what replacement needs); a query
touches only the postings of its own terms, so it stays fast at tens of thousands of chunks.
Not thread-safe by itself: the service serialises writers and readers with a lock.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from knowledge.text import tokenize

_INDEXES = itertools.count(1)


class BM25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        # (this index, its contents): changes on every add and remove, so what was computed from the
        # statistics (a question's analysis) can be kept until they change
        self.uid = next(_INDEXES)
        self.version = 0
        self.k1 = k1
        self.b = b
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._keys: list[str] = []
        self._terms: list[Counter[str] | None] = []
        self._len = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._free: list[int] = []
        self._postings: dict[str, dict[int, int]] = {}
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._total_len = 0.0
        self._n = 0
        self.meta: dict[str, dict[str, object]] = {}

    def __len__(self) -> int:
        return self._n

    def __contains__(self, chunk_id: str) -> bool:
        return chunk_id in self._slot_of

    def _grow(self, need: int) -> None:
        cap = len(self._alive)
        if need <= cap:
            return
        new = max(need, cap * 2, 1024)
        self._len = np.concatenate([self._len, np.zeros(new - cap, dtype=np.float32)])
        self._alive = np.concatenate([self._alive, np.zeros(new - cap, dtype=bool)])

    def add(self, chunk_id: str, text: str, key: str, meta: dict[str, object] | None = None,
            tokens: list[str] | None = None) -> None:
        if chunk_id in self._slot_of:
            return
        toks = Counter(tokens if tokens is not None else tokenize(text))
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = chunk_id
            self._keys[slot] = key
            self._terms[slot] = toks
        else:
            slot = len(self._ids)
            self._ids.append(chunk_id)
            self._keys.append(key)
            self._terms.append(toks)
            self._grow(slot + 1)
        self._slot_of[chunk_id] = slot
        length = float(sum(toks.values()))
        self._len[slot] = length
        self._alive[slot] = True
        self._total_len += length
        self._n += 1
        self.version += 1
        for t, tf in toks.items():
            self._postings.setdefault(t, {})[slot] = tf
            self._cache.pop(t, None)
        if meta is not None:
            self.meta[chunk_id] = meta

    def remove(self, chunk_ids: Iterable[str]) -> int:
        removed = 0
        for cid in chunk_ids:
            slot = self._slot_of.pop(cid, None)
            if slot is None:
                continue
            toks = self._terms[slot] or Counter()
            for t in toks:
                p = self._postings.get(t)
                if p is not None:
                    p.pop(slot, None)
                    if not p:
                        del self._postings[t]
                self._cache.pop(t, None)
            self._total_len -= float(self._len[slot])
            self._len[slot] = 0
            self._alive[slot] = False
            self._ids[slot] = None
            self._terms[slot] = None
            self._keys[slot] = ""
            self._free.append(slot)
            self.meta.pop(cid, None)
            self._n -= 1
            self.version += 1
            removed += 1
        return removed

    def ids_for_key(self, key: str) -> list[str]:
        return [cid for cid, k in zip(self._ids, self._keys, strict=True) if cid is not None and k == key]

    def df(self, term: str) -> int:
        return len(self._postings.get(term, ()))

    def idf(self, term: str) -> float:
        n = max(self._n, 1)
        df = self.df(term)
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        hit = self._cache.get(term)
        if hit is not None:
            return hit
        p = self._postings.get(term)
        if not p:
            return None
        slots = np.fromiter(p.keys(), dtype=np.int64, count=len(p))
        tfs = np.fromiter(p.values(), dtype=np.float32, count=len(p))
        self._cache[term] = (slots, tfs)
        return slots, tfs

    def search(self, query: str, k: int = 20, allowed_keys: set[str] | None = None,
               where: Mapping[str, object] | None = None, tokens: list[str] | None = None) -> list[tuple[str, float]]:
        if self._n == 0:
            return []
        qtoks = Counter(tokens if tokens is not None else tokenize(query))
        if not qtoks:
            return []
        avg = self._total_len / max(self._n, 1)
        scores = np.zeros(len(self._alive), dtype=np.float32)
        touched = False
        for term, qtf in qtoks.items():
            post = self._posting(term)
            if post is None:
                continue
            slots, tfs = post
            idf = self.idf(term)
            # bigram tokens back up the words; they count for less
            weight = idf * (0.5 if term.startswith("§") else 1.0) * (1.0 + 0.2 * (qtf - 1))
            denom = tfs + self.k1 * (1 - self.b + self.b * self._len[slots] / avg)
            scores[slots] += weight * tfs * (self.k1 + 1) / denom
            touched = True
        if not touched:
            return []
        cand = np.nonzero(scores > 0)[0]
        if cand.size == 0:
            return []
        order = cand[np.argsort(-scores[cand], kind="stable")]
        out: list[tuple[str, float]] = []
        for slot in order:
            cid = self._ids[slot]
            if cid is None:
                continue
            if allowed_keys is not None and self._keys[slot] not in allowed_keys:
                continue
            if where and not _match(self.meta.get(cid, {}), where):
                continue
            out.append((cid, float(scores[slot])))
            if len(out) >= k:
                break
        return out


def _match(meta: dict[str, object], where: Mapping[str, object]) -> bool:
    for key, want in where.items():
        have = meta.get(key)
        if isinstance(want, list | tuple | set):
            if have not in want:
                return False
        elif have != want:
            return False
    return True
