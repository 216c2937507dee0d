"""The analyst's words, served to the page (``GET /v1/words``, no key: they are the product's,
not the data's), so that the page holds no copy of the vocabulary: every field's label, the
lanes, where a decision came from, a case's states, how contraband was hidden, and the
conditions a rule may hold."""

from __future__ import annotations

from fastapi import APIRouter

from contraband.desk import vocabulary as desk_words
from contraband.desk.rules import CONDITION_WORDS, RANGED_CONDITIONS
from contraband.models import vocabulary

router = APIRouter(prefix="/v1", tags=["page"])


@router.get("/words", summary="The analyst's words for every field, lane, source, state and rule condition")
def words() -> dict:
    return {"fields": {**vocabulary.FIELDS, **vocabulary.MEASURES}, "lanes": desk_words.LANES,
            "sources": desk_words.SOURCES, "states": desk_words.STATES, "concealments": desk_words.CONCEALMENTS,
            "conditions": CONDITION_WORDS, "ranged_conditions": list(RANGED_CONDITIONS)}
