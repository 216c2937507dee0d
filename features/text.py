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
from contraband.features.base import Family, hs, text

VAGUE = ("sample", "samples", "goods", "general merchandise", "mixed goods", "gift", "gifts", "parts",
         "spare parts", "raw materials", "raw material", "industrial material", "materials",
         "chemical product", "building materials", "accessories", "various", "merchandise")


class TextFeatures(Family):
    family = "text"
    requires = ("goods_description", "hs_code")

    def __init__(self, max_features: int = 20_000):
        self.max_features = max_features

    def _fit(self, X):
        desc = text(X, "goods_description").str.lower()
        code6 = hs(X, 6)
        pairs = pd.DataFrame({"d": desc, "c": code6}).dropna()
        counts = pairs.value_counts().reset_index(name="n")
        goods = ref.goods()
        hs_text = {c: (ref.hs_description(c) or "").lower() for c in set(counts["c"]) | set(goods.index)}
        typical_ref = {c: " ".join(d.lower().split("|")) for c, d in goods["goods_descriptions"].items()}
        corpus = list(hs_text.values()) + counts["d"].tolist() + list(typical_ref.values())
        self.vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), min_df=1,
                                           max_features=self.max_features, sublinear_tf=True, dtype=np.float32)
        self.vectorizer_.fit(corpus)
        self.hs_codes_ = sorted(hs_text)
        self.hs_matrix_ = self.vectorizer_.transform([hs_text[c] for c in self.hs_codes_])
        # centroid of what is declared under each code, weighted by frequency
        typical = {}
        for code, grp in counts.groupby("c"):
            weights = sparse.csr_matrix(grp["n"].to_numpy(dtype=np.float32)[None, :])
            typical[code] = weights @ self.vectorizer_.transform(grp["d"])
        for code, words in typical_ref.items():
            if code not in typical:
                typical[code] = self.vectorizer_.transform([words])
        self.typical_codes_ = sorted(typical)
        self.typical_matrix_ = normalize(sparse.vstack([typical[c] for c in self.typical_codes_]).tocsr())

    def _similarities(self, desc: pd.Series, code6: pd.Series) -> pd.DataFrame:
        pairs = pd.DataFrame({"d": desc, "c": code6})
        distinct = pairs.dropna().drop_duplicates().reset_index(drop=True)
        out = pd.DataFrame({"d": distinct["d"], "c": distinct["c"]})
        if len(distinct):
            vecs = self.vectorizer_.transform(distinct["d"])
            hs_pos = pd.Index(self.hs_codes_).get_indexer(distinct["c"])
            typ_pos = pd.Index(self.typical_codes_).get_indexer(distinct["c"])
            hs_sim = np.asarray(vecs.multiply(self.hs_matrix_[np.maximum(hs_pos, 0)]).sum(axis=1)).ravel()
            typ_sim = np.asarray(vecs.multiply(self.typical_matrix_[np.maximum(typ_pos, 0)]).sum(axis=1)).ravel()
            out["hs_sim"] = np.where(hs_pos >= 0, hs_sim, np.nan)
            out["typ_sim"] = np.where(typ_pos >= 0, typ_sim, np.nan)
        else:
            out["hs_sim"], out["typ_sim"] = [], []
        return pairs.merge(out, on=["d", "c"], how="left")

    def _transform(self, X):
        desc = text(X, "goods_description").str.lower().str.strip()
        sims = self._similarities(desc, hs(X, 6))
        out = pd.DataFrame(index=X.index)
        out["description_vs_hs_text"] = sims["hs_sim"].to_numpy(dtype="float64", na_value=np.nan)
        out["description_vs_typical"] = sims["typ_sim"].to_numpy(dtype="float64", na_value=np.nan)
        words = desc.str.split().str.len()
        out["vague_description"] = (desc.isin(VAGUE) | (words <= 1)).astype("float64").where(desc.notna())
        out["description_words"] = words.astype("float64")
        return out
