"""Text features: does the goods description fit the declared HS code?

TF-IDF (character n-grams) similarity of the description to the HS 2022 description of the code,
and to the descriptions typically declared under that code in the training window (falling back
to the reference table's typical descriptions for codes the window did not see); vague wording.
Computed once per distinct (description, HS6) pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from contraband.data import reference as ref
from contraband.features.base import Family, cat, combine, derive, hs, values_of

VAGUE = ("sample", "samples", "goods", "general merchandise", "mixed goods", "gift", "gifts", "parts",
         "spare parts", "raw materials", "raw material", "industrial material", "materials",
         "chemical product", "building materials", "accessories", "various", "merchandise")


class TextFeatures(Family):
    family = "text"
    requires = ("goods_description", "hs_code")

    def __init__(self, max_features: int = 20_000):
        self.max_features = max_features

    @staticmethod
    def _descriptions(X) -> pd.Series:
        return derive(cat(X, "goods_description"), lambda v: v.lower().strip() or None)

    def _fit(self, X):
        pairs = pd.DataFrame({"d": self._descriptions(X).to_numpy(), "c": hs(X, 6).to_numpy()}).dropna()
        counts = pairs.value_counts().reset_index(name="n")
        counts = counts[counts["n"] > 0].astype({"d": "str", "c": "str"})
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

    def _transform(self, X):
        desc = self._descriptions(X)
        pairs = combine(desc, hs(X, 6), sep="\t", missing="")
        distinct = [p.split("\t") for p in pairs.cat.categories]
        d = [p[0] for p in distinct]
        c = [p[1] for p in distinct]
        hs_sim = np.full(len(distinct), np.nan)
        typ_sim = np.full(len(distinct), np.nan)
        ok = np.array([bool(a) and bool(b) for a, b in zip(d, c)], dtype=bool)
        if ok.any():
            vecs = self.vectorizer_.transform([d[i] for i in np.flatnonzero(ok)])
            codes = [c[i] for i in np.flatnonzero(ok)]
            hs_pos = pd.Index(self.hs_codes_).get_indexer(codes)
            typ_pos = pd.Index(self.typical_codes_).get_indexer(codes)
            sim_h = np.asarray(vecs.multiply(self.hs_matrix_[np.maximum(hs_pos, 0)]).sum(axis=1)).ravel()
            sim_t = np.asarray(vecs.multiply(self.typical_matrix_[np.maximum(typ_pos, 0)]).sum(axis=1)).ravel()
            hs_sim[ok] = np.where(hs_pos >= 0, sim_h, np.nan)
            typ_sim[ok] = np.where(typ_pos >= 0, sim_t, np.nan)
        codes = pairs.cat.codes.to_numpy()
        take = lambda per_pair: np.append(per_pair, np.nan)[codes]  # noqa: E731
        out = pd.DataFrame(index=X.index)
        out["description_vs_hs_text"] = take(hs_sim)
        out["description_vs_typical"] = take(typ_sim)
        out["vague_description"] = values_of(desc, lambda v: float(v in VAGUE or len(v.split()) <= 1))
        out["description_words"] = values_of(desc, lambda v: float(len(v.split())))
        return out
