"""Text features: does the goods description fit the declared HS code?

TF-IDF (character n-grams) similarity of the description to the HS 2022 description of the code,
and to the descriptions typically declared under that code in the training window (falling back
to the reference table's typical descriptions for codes the window did not see); vague wording.

The vectorizer is scikit-learn's, fitted on the training window. A description to score is
weighted with the fitted vectorizer's own parts (its analyzer, vocabulary and idf: sublinear tf,
idf, L2 norm, as ``TfidfVectorizer.transform``; tested against it) and compared by sparse dot
products: about 30 microseconds, where the library's per-call checks cost 2 ms for one
declaration. Computed once per distinct (description, HS6) pair, by the same code for one
declaration or a million; pairs already computed in this process are remembered (a bounded
cache that is not part of the fitted model).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from contraband.data import reference as ref
from contraband.data.keys import combine
from contraband.data.columns import Columns
from contraband.features.base import Family

VAGUE = ("sample", "samples", "goods", "general merchandise", "mixed goods", "gift", "gifts", "parts",
         "spare parts", "raw materials", "raw material", "industrial material", "materials",
         "chemical product", "building materials", "accessories", "various", "merchandise")
_CACHE_SIZE = 200_000


class TextFeatures(Family):
    family = "text"
    requires = ("goods_description", "hs_code")
    increasing = ("vague_description",)
    decreasing = ("description_vs_typical",)

    def __init__(self, max_features: int = 20_000):
        self.max_features = max_features

    _TRANSIENT = ("_similarity", "_lookup")

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in self._TRANSIENT:  # caches and lookups derived from the fitted state, never stored
            state.pop(name, None)
        return state

    @staticmethod
    def _descriptions(frame: Columns):
        return frame.cached("descriptions", lambda: frame.coded("goods_description").derive(
            lambda v: v.lower().strip() or None))

    def _fit(self, frame: Columns):
        desc, code6 = self._descriptions(frame), frame.hs(6)
        pairs = pd.DataFrame({"d": desc.rows(), "c": code6.rows()}).dropna()
        counts = pairs.value_counts().reset_index(name="n")
        counts = counts[counts["n"] > 0].astype({"d": "object", "c": "object"})
        goods = ref.goods()
        hs_text = {c: (ref.hs_description(c) or "").lower() for c in set(counts["c"]) | set(goods.index)}
        typical_ref = {c: " ".join(d.lower().split("|")) for c, d in goods["goods_descriptions"].items()}
        corpus = list(hs_text.values()) + counts["d"].tolist() + list(typical_ref.values())
        self.vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), min_df=1,
                                           max_features=self.max_features, sublinear_tf=True, dtype=np.float32)
        self.vectorizer_.fit(corpus)
        self.hs_codes_ = sorted(hs_text)
        self.hs_matrix_ = self.vectorizer_.transform([hs_text[c] for c in self.hs_codes_])
        # what is declared under each code, weighted by frequency (reference texts for unseen codes)
        typical = {}
        for code, grp in counts.groupby("c"):
            weights = sparse.csr_matrix(grp["n"].to_numpy(dtype=np.float32)[None, :])
            typical[code] = weights @ self.vectorizer_.transform(grp["d"])
        for code, words in typical_ref.items():
            if code not in typical:
                typical[code] = self.vectorizer_.transform([words])
        self.typical_codes_ = sorted(typical)
        self.typical_matrix_ = normalize(sparse.vstack([typical[c] for c in self.typical_codes_]).tocsr())

    def _lookups(self) -> dict:
        """What scoring a description needs, derived once per process from the fitted state."""
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = {"analyzer": self.vectorizer_.build_analyzer(), "vocabulary": self.vectorizer_.vocabulary_,
                      "idf": np.asarray(self.vectorizer_.idf_, dtype="float64"),
                      "hs": ({c: i for i, c in enumerate(self.hs_codes_)}, self.hs_matrix_.tocsr()),
                      "typical": ({c: i for i, c in enumerate(self.typical_codes_)}, self.typical_matrix_.tocsr())}
            self.__dict__["_lookup"] = lookup
        return lookup

    def weights(self, description: str) -> dict[int, float]:
        """The description's TF-IDF vector as {term column: weight} (sublinear tf x idf, L2 norm)."""
        lookup = self._lookups()
        counts: dict[int, int] = {}
        vocabulary = lookup["vocabulary"]
        for gram in lookup["analyzer"](description):
            j = vocabulary.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        idf = lookup["idf"]
        weights = {j: (1.0 + math.log(n)) * idf[j] for j, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {j: w / norm for j, w in weights.items()} if norm > 0 else weights

    @staticmethod
    def _dot(weights: dict[int, float], matrix, row: int) -> float:
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        return float(sum(weights.get(j, 0.0) * w for j, w in zip(matrix.indices[start:end].tolist(),
                                                                   matrix.data[start:end].tolist())))

    def _similarities(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float]]:
        """(similarity to the HS text, similarity to what is typical) of (description, HS6) pairs."""
        cache = self.__dict__.setdefault("_similarity", {})
        todo = [p for p in pairs if p not in cache]
        if todo:
            lookup = self._lookups()
            (hs_at, hs_matrix), (typical_at, typical_matrix) = lookup["hs"], lookup["typical"]
            if len(cache) + len(todo) > _CACHE_SIZE:
                cache.clear()
            for description, code in todo:
                weights = self.weights(description)
                h, t = hs_at.get(code), typical_at.get(code)
                cache[(description, code)] = (self._dot(weights, hs_matrix, h) if h is not None else np.nan,
                                              self._dot(weights, typical_matrix, t) if t is not None else np.nan)
        return {p: cache[p] for p in pairs}

    def _columns(self, frame: Columns):
        desc = self._descriptions(frame)
        pairs = combine(desc, frame.hs(6), sep="\t", require_all=True)
        distinct = [tuple(p.split("\t")) for p in pairs.values]
        sims = self._similarities(distinct)
        table = np.array([sims[p] for p in distinct] + [(np.nan, np.nan)], dtype="float64").reshape(-1, 2)
        per_row = table[np.where(pairs.codes < 0, len(distinct), pairs.codes)]
        return {
            "description_vs_hs_text": per_row[:, 0],
            "description_vs_typical": per_row[:, 1],
            "vague_description": desc.map(lambda v: float(v in VAGUE or len(v.split()) <= 1)),
            "description_words": desc.map(lambda v: float(len(v.split()))),
        }
