"""Text features: does the goods description fit the declared HS code?

TF-IDF (character n-grams) similarity of the description to the HS 2022 description of the code,
and to the descriptions typically declared under that code in the training window (falling back
to the reference table's typical descriptions for codes the window did not see); vague wording.
Computed once per distinct (description, HS6) pair; pairs already computed in this process are
remembered (a bounded cache that is not part of the fitted model), so a description seen before
costs a dictionary lookup, not a TF-IDF transform.
"""

from __future__ import annotations

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

    def __init__(self, max_features: int = 20_000):
        self.max_features = max_features

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_similarity", None)  # a cache, not a fitted parameter
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

    def _similarities(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float]]:
        """(similarity to the HS text, similarity to what is typical) of (description, HS6) pairs."""
        cache = self.__dict__.setdefault("_similarity", {})
        todo = [p for p in pairs if p not in cache]
        if todo:
            vecs = self.vectorizer_.transform([d for d, _ in todo])
            codes = [c for _, c in todo]
            hs_pos = pd.Index(self.hs_codes_).get_indexer(codes)
            typ_pos = pd.Index(self.typical_codes_).get_indexer(codes)
            sim_h = np.asarray(vecs.multiply(self.hs_matrix_[np.maximum(hs_pos, 0)]).sum(axis=1)).ravel()
            sim_t = np.asarray(vecs.multiply(self.typical_matrix_[np.maximum(typ_pos, 0)]).sum(axis=1)).ravel()
            if len(cache) + len(todo) > _CACHE_SIZE:
                cache.clear()
            for p, h, hp, t, tp in zip(todo, sim_h, hs_pos, sim_t, typ_pos):
                cache[p] = (float(h) if hp >= 0 else np.nan, float(t) if tp >= 0 else np.nan)
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
