"""The documented shapes of requests and answers (OpenAPI via pydantic).

Declarations come in as plain objects on purpose: the declaration contract, not the request
parser, judges each row, so one bad row is rejected with its reasons while the others are
scored (a typed request model would refuse the whole batch for one wrong cell).

The request's own fields are strict (:class:`RequestBody`): a number is a JSON number and finite
(not ``true``, not ``"0.5"``, not ``NaN``, ``Infinity`` or ``1e400``), a flag is ``true`` or
``false`` (not ``0.0``). A request that breaks the schema is answered 422 with
:class:`InvalidRequest`: where each problem is and what is wrong, never the value sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

#: a text that must hold a visible character (the service refuses one of spaces only)
VISIBLE = r"\S"
#: a day as YYYY-MM-DD (the service also refuses one that is no date: 400)
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

Cell = Union[str, float, int, bool, None]


class Problem(BaseModel):
    """Every error answer: a machine-readable kind and one sentence for a person."""

    error: str = Field(description="unauthorized, forbidden, too_large, unsupported, unreadable, bad_request, "
                                   "invalid, not_found, method_not_allowed, not_ready or server_error")
    message: str


class Invalid(BaseModel):
    where: str = Field(description="the parameter or the place in the body, e.g. body.budget")
    reason: str


class InvalidRequest(Problem):
    """A request that breaks the schema (422): ``error`` is ``invalid``; the first problems."""

    problems: list[Invalid] = Field(max_length=20)


class RequestBody(BaseModel):
    """A request body: strict, finite numbers (see the module)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)


class Issue(BaseModel):
    column: str
    value: Optional[str] = None
    reason: str


class ScoredRow(BaseModel):
    line: Optional[int] = Field(None, description="where the declaration starts in the uploaded file")
    declaration_id: Optional[str] = None
    risk_score: float
    rank: int
    flagged: bool
    exploration: bool = Field(description="flagged as an exploration pick, outside the model's top list")
    reasons: list[str]
    lane: Optional[Literal["red", "yellow", "green"]] = Field(
        None, description="red: physical examination, yellow: documentary check, green: release (absent with queue=false)")
    lane_source: Optional[Literal["model", "rule", "control", "override"]] = Field(
        None, description="where the lane came from: the model's risk rank, a rule, the random control, an override")
    lane_reason: Optional[str] = Field(None, description="why this lane, in words")
    model_lane: Optional[Literal["red", "yellow", "green"]] = Field(
        None, description="the lane the model's risk rank alone gives it (a rule or the random control may raise a "
                          "lane, never lower it)")
    case_id: Optional[int] = Field(None, description="the case opened for a red or yellow declaration")
    route: Optional[str] = Field(None, description="origin, shipped from (if elsewhere), each transit country, "
                                                   "destination, joined with ' → '")
    declaration: dict[str, Cell] = Field(description="the declaration as the contract read it")


class RejectedRow(BaseModel):
    line: Optional[int] = None
    row: int = Field(description="record number in the file (1 = first after the header)")
    declaration_id: Optional[str] = None
    problems: list[Issue]
    cells: dict[str, Optional[str]] = Field(default_factory=dict, description="the row as received")


class ModelRef(BaseModel):
    name: str
    version: str
    source: str


class Summary(BaseModel):
    source: str
    notes: list[str] = Field(default_factory=list, description="how the file was read")
    rows: int
    scored: int
    rejected: int
    rejected_shown: Optional[int] = Field(None, description="rejected rows echoed in this answer's rejected list: "
                                                            "the first ones, at most the service's limit (1,000); "
                                                            "every one: the same upload with format=csv")
    flagged: int
    exploration: int
    budget: float
    flag_rule: str
    model: ModelRef
    lanes: Optional[dict[str, int]] = Field(None, description="declarations sent to each lane, and those kept in "
                                                              "the lane an earlier selection gave them")
    policy_version: Optional[int] = Field(None, description="the selection policy applied (0: the default)")
    rules_skipped: list[dict[str, str]] = Field(
        default_factory=list, description="analysts' rules that failed on this manifest: each skipped (its rule_id, "
                                          "name and error), every declaration decided without it, and audited")
    seconds: float


class ManifestResult(BaseModel):
    summary: Summary
    rows: list[ScoredRow] = Field(description="highest risk first")
    rejected: list[RejectedRow]


class DeclarationBatch(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"declarations": [{
        "declaration_id": "D-1", "declaration_date": "2026-11-20", "hs_code": "381010",
        "goods_description": "solder paste", "origin_country": "CN", "export_country": "TH",
        "destination_country": "US", "declared_value_usd": 1200.0, "net_weight_kg": 40.0,
        "quantity": 40, "quantity_unit": "kg", "exporter_id": "EXP-1", "consignee_id": "CON-1"}]}]})

    declarations: list[dict[str, Any]] = Field(description="canonical declarations (see docs/data.md); at most the "
                                                           "service's --max-json-rows (10,000 unless set), more: 413")
    budget: float = Field(0.05, gt=0, le=1, description="share of declarations to flag")
    exploration: float = Field(0.0, ge=0, lt=1, description="share of the budget for exploration picks")


class DeclarationScore(BaseModel):
    row: int = Field(description="position in the request, from 1")
    declaration_id: Optional[str] = None
    risk_score: Optional[float] = Field(None, description="missing for a rejected row")
    rank: Optional[int] = None
    flagged: bool
    exploration: bool
    reasons: list[str]
    problems: list[Issue] = Field(default_factory=list, description="why a row was rejected")


class DeclarationsResult(BaseModel):
    summary: Summary
    rows: list[DeclarationScore] = Field(description="in request order")


class HsNorm(BaseModel):
    measure: str
    label: str = Field("", description="the measure in the analyst's words")
    unit: str
    declared: Optional[float] = None
    hs_norm: Optional[float] = Field(None, description="the median learned for the HS code (training window)")
    ratio: Optional[float] = None


class Evidence(BaseModel):
    declaration_id: str
    declaration: dict[str, Cell]
    norms: list[HsNorm]
    reference: Optional[dict[str, Cell]] = Field(None, description="the HS code in the reference table")
    history: dict[str, Optional[float]] = Field(description="the traders' and route's history before its day")
    outcomes: list["OutcomeVersion"] = Field(description="every outcome version recorded for it, oldest first "
                                                         "(the words of GET /v1/outcomes)")
    labels: dict[str, str] = Field(default_factory=dict, description="each field, measure and history figure above "
                                                                      "in the analyst's words")
    history_in_words: list[str] = Field(default_factory=list, description="the traders' and route's history as "
                                        "sentences: earlier declarations, 'k seizures in n inspections', first seen")
    earlier_seizures: list["EarlierSeizure"] = Field(default_factory=list, description="the seizures behind its "
                                                     "traders' history, latest first (at most 20 per trader)")


class EarlierSeizure(BaseModel):
    declaration_id: str
    declaration_date: str
    hs_code: Optional[str] = None
    material: Optional[str] = None
    seized_value_usd: Optional[float] = None
    linked_by: str = Field(description="the trader it shares: exporter_id, consignee_id or declarant_id")


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: Optional[str] = None
    uri: str
    source: Literal["registry", "cache"]
    note: str = Field(description="why the cached copy is served, when it is")
    run_id: Optional[str] = None
    loaded_at: str
    windows: dict[str, dict[str, Optional[str]]]
    metrics: dict[str, float]
    budget_threshold: Optional[dict[str, float]] = None
    trees: str = Field("", description="how the booster is evaluated: compiled trees (lleaves), or LightGBM's "
                                       "and why")


#: what a correction of a recorded result needs
CORRECTION = ("why a recorded result is corrected: required, with a supervisor's key, to change an outcome "
              "already recorded (an analyst's different result for it is refused)")


class Outcome(RequestBody):
    """One inspection's result. ``contraband_found`` only for an inspected declaration (else the
    row is rejected by itself)."""

    declaration_id: str = Field(min_length=1, max_length=200)
    inspected: bool = True
    contraband_found: Optional[bool] = Field(None, description="missing while the result is pending")
    material: Optional[str] = Field(None, max_length=500)
    seized_value_usd: Optional[float] = Field(None, ge=0, le=1e12)
    note: Optional[str] = Field(None, max_length=5000)


class OutcomeBatch(RequestBody):
    outcomes: list[Outcome] = Field(min_length=1, description="at most the service's --max-json-rows (10,000 "
                                                              "unless set), more: 413")
    correction_reason: Optional[str] = Field(None, max_length=2000, pattern=VISIBLE, description=CORRECTION)


class OutcomeRejected(BaseModel):
    row: int
    declaration_id: Optional[str] = None
    reason: str
    kind: Optional[str] = Field(None, description="invalid (the history refuses it: an unknown declaration...), "
                                                  "conflict (a closed case: its outcome stands) or forbidden (a "
                                                  "correction without a supervisor's key and reason)")


class OutcomesRecorded(BaseModel):
    recorded: int
    unchanged: int = Field(description="same result as the declaration's current outcome: not recorded again")
    rejected: list[OutcomeRejected]


class OutcomeVersion(BaseModel):
    declaration_id: str
    recorded_at: str
    inspected: bool
    contraband_found: Optional[bool] = None
    material: Optional[str] = None
    seized_value_usd: Optional[float] = None
    note: Optional[str] = None
    recorded_by: Optional[str] = None
    current: bool


class OutcomeList(BaseModel):
    outcomes: list[OutcomeVersion]
    total: int


class Me(BaseModel):
    """Who the caller's key is."""

    key_id: str = Field(description="the key's id: the <id> of cb_<id>_<secret>")
    role: Literal["analyst", "supervisor", "admin"]


class Health(BaseModel):
    status: str
    model: Optional[str] = None
    worker: int = Field(description="the answering worker's process id")


class DeclarationVersion(BaseModel):
    version: int = Field(description="1 for the first copy recorded, then one more for each amendment")
    sent_by: Optional[str] = Field(None, description="who sent it: api:<key id>, score:<file>, amend:<admin> ...")
    recorded_at: Optional[str] = Field(None, description="when it was recorded (UTC)")
    counts_from: str = Field(description="the first day on which the history counts this version")
    note: Optional[str] = Field(None, description="an admin's reason for the amendment")
    current: bool
    declaration: dict[str, Cell]


class DeclarationVersions(BaseModel):
    declaration_id: str
    versions: list[DeclarationVersion] = Field(description="oldest first")


class AmendmentBatch(RequestBody):
    declarations: list[dict[str, Any]] = Field(description="recorded declarations with their corrected values; at most "
                                                           "the service's --max-json-rows, more: 413")
    reason: str = Field(min_length=3, max_length=2000, pattern=VISIBLE,
                        description="why they are amended (kept with the amendment; not only spaces)")


class AmendedRow(BaseModel):
    row: int = Field(description="position in the request, from 1")
    declaration_id: Optional[str] = None
    status: Literal["amended", "unchanged", "rejected"]
    version: Optional[int] = Field(None, description="the declaration's current version after the request")
    problems: list[Issue] = Field(default_factory=list, description="why a row was rejected")


class AmendmentResult(BaseModel):
    amended: int
    unchanged: int
    rejected: int
    rows: list[AmendedRow] = Field(description="in request order")


# --- the targeting desk -----------------------------------------------------------------
Lane = Literal["red", "yellow", "green"]
Concealment = Literal["in_goods", "in_packaging", "false_description", "false_origin"]


class LaneCapacity(RequestBody):
    """A lane's capacity per day: a count (across the day's selections) or a share (of the
    declarations of the day in one selection); exactly one of them."""

    # a JSON number that is whole (600 and 600.0 alike, as JSON Schema's integers are)
    count: Optional[float] = Field(None, ge=0, le=10_000_000, multiple_of=1)
    share: Optional[float] = Field(None, ge=0, le=1)

    def capacity(self) -> dict:
        """As the policy reads it (a count as a whole number)."""
        out = self.model_dump(exclude_none=True)
        if "count" in out:
            out["count"] = int(out["count"])
        return out


class PolicyBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "red": {"share": 0.03}, "yellow": {"count": 40}, "control_share": 0.01, "note": "peak season"}]})
    red: LaneCapacity
    yellow: LaneCapacity
    control_share: float = Field(0.01, ge=0, le=1, description="share of all declarations sent to red at random, "
                                                                "whatever their risk (unbiased hit rates)")
    office_column: str = Field("x_office_id", min_length=1, max_length=100,
                               description="the column naming the customs office (capacity per office where present)")
    note: Optional[str] = Field(None, max_length=2000)


class PolicyShown(BaseModel):
    version: int = Field(description="0: the product's default, before any supervisor set one")
    author: str
    created_at: str
    note: str
    red: dict[str, float]
    yellow: dict[str, float]
    control_share: float
    office_column: str
    lanes: dict[str, str] = Field(description="each lane's capacity in words")


class PolicyVersions(BaseModel):
    versions: list[PolicyShown]


class Decided(BaseModel):
    """A declaration's lane and where it came from (a decision, and the case opened for it)."""

    declaration_id: str
    lane: Lane
    source: Literal["model", "rule", "control", "override"]
    rule_id: Optional[str] = None
    model_rank: Optional[int] = None
    risk_score: Optional[float] = None
    why: str
    day: str
    office: str


class Case(Decided):
    case_id: int
    state: Literal["open", "inspected", "closed"]
    opened_at: str
    updated_at: str
    contraband_found: Optional[bool] = None
    material: Optional[str] = None
    concealment: Optional[Concealment] = None
    hs_code_found: Optional[str] = None
    seized_quantity_kg: Optional[float] = None
    seized_value_usd: Optional[float] = None
    note: Optional[str] = None
    inspected_by: Optional[str] = None
    instructions: Optional[str] = Field(None, description="the officer's instructions of the rule that selected it")
    hs_code: Optional[str] = Field(None, description="the declaration's HS code (in the queue's list)")
    goods_description: Optional[str] = Field(None, description="the declaration's goods (in the queue's list)")
    route: Optional[str] = Field(None, description="origin → shipped from (if elsewhere) → each transit country → "
                                                   "destination (in the queue's list)")


class CaseList(BaseModel):
    cases: list[Case] = Field(description="the page's cases, red first, then yellow (then green), the highest risk "
                                          "first within a lane, then by case number; pages follow case numbers, so "
                                          "this order holds within a page")
    next_after: Optional[int] = Field(None, description="pass as after= for the next page (absent: the last page)")


class CaseOutcome(RequestBody):
    """A case's outcome. With ``contraband_found`` false, material, concealment, HS code found,
    quantity and value stay empty (else 400)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "contraband_found": True, "material": "dysprosium oxide", "concealment": "false_description",
        "hs_code_found": "284690", "seized_quantity_kg": 120.5, "seized_value_usd": 48000,
        "note": "declared as solder paste"}]})
    contraband_found: bool = Field(description="contraband found at inspection")
    material: Optional[str] = Field(None, max_length=200)
    concealment: Optional[Concealment] = Field(None, description="in the goods, in the packaging, false description "
                                                                 "or false origin")
    hs_code_found: Optional[str] = Field(None, pattern=r"^[0-9]{4}([0-9]{2}){0,3}$")
    seized_quantity_kg: Optional[float] = Field(None, ge=0, le=1e9)
    seized_value_usd: Optional[float] = Field(None, ge=0, le=1e12)
    note: Optional[str] = Field(None, max_length=2000)
    correction_reason: Optional[str] = Field(None, max_length=2000, pattern=VISIBLE, description=CORRECTION)


class CaseClose(RequestBody):
    note: Optional[str] = Field(None, max_length=2000)


class LaneOverride(RequestBody):
    lane: Lane
    reason: str = Field(min_length=1, max_length=2000, pattern=VISIBLE,
                        description="why (required, a visible character at least; kept in the audit trail)")


class Decision(Decided):
    decided_at: str
    actor: str
    selection: int


class OverrideList(BaseModel):
    overrides: list[Decision]


class ImportRejected(BaseModel):
    line: Optional[int] = Field(None, description="where the row starts in the file")
    column: str
    reason: str


class OutcomesImported(BaseModel):
    recorded: int
    rejected: list[ImportRejected]
    notes: list[str] = Field(default_factory=list)


class AuditEvent(BaseModel):
    event: int
    at: str
    actor: str
    action: str
    target: str
    before: Optional[Any] = None
    after: Optional[Any] = None


class AuditList(BaseModel):
    events: list[AuditEvent]
    next_after: Optional[int] = None


class Range(RequestBody):
    """At least one bound; ``min`` not above ``max`` (else 400)."""

    min: Optional[float] = None
    max: Optional[float] = None


#: a list condition's values: texts that hold a visible character, at most 200 characters each
_Texts = Optional[list[Annotated[str, Field(min_length=1, max_length=200, pattern=VISIBLE)]]]


class RuleConditions(RequestBody):
    """All the conditions given must hold; within one, any value listed will do. At least one
    condition (else 400)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
    hs_prefixes: Optional[list[Annotated[str, Field(pattern=r"^\s*[0-9]{2,10}\s*$")]]] = Field(
        None, min_length=1, max_length=500, description="HS code starts with (2-10 digits)")
    origin_countries: _Texts = Field(None, min_length=1, max_length=500)
    export_countries: _Texts = Field(None, min_length=1, max_length=500)
    destination_countries: _Texts = Field(None, min_length=1, max_length=500)
    transit_countries: _Texts = Field(None, min_length=1, max_length=500, description="the route passes through")
    exporters: _Texts = Field(None, min_length=1, max_length=500)
    consignees: _Texts = Field(None, min_length=1, max_length=500)
    declarants: _Texts = Field(None, min_length=1, max_length=500)
    description_words: _Texts = Field(None, min_length=1, max_length=500,
                                      description="words or phrases of the goods description (any case)")
    value_usd: Optional[Range] = None
    net_weight_kg: Optional[Range] = None
    usd_per_kg: Optional[Range] = None


class RuleBody(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "magnets via Thailand", "lane": "red", "rationale": "NdFeB magnets transshipped to hide Chinese origin",
        "instructions": "open two cartons; test with a gaussmeter",
        "conditions": {"hs_prefixes": ["8505"], "transit_countries": ["TH"]}, "valid_from": "2026-12-01"}]})
    name: str = Field(min_length=1, max_length=120, pattern=VISIBLE)
    lane: Literal["red", "yellow"]
    conditions: RuleConditions
    rationale: str = Field(min_length=1, max_length=2000, pattern=VISIBLE,
                           description="the reason an analyst reads on each hit")
    instructions: str = Field("", max_length=4000, description="what the examining officer should do")
    valid_from: Optional[str] = Field(None, max_length=10, pattern=DAY, json_schema_extra={"format": "date"},
                                      description="YYYY-MM-DD: declarations of that day on")
    valid_to: Optional[str] = Field(None, max_length=10, pattern=DAY, json_schema_extra={"format": "date"},
                                    description="YYYY-MM-DD, inclusive; not before valid_from (else 400)")
    note: Optional[str] = Field(None, max_length=2000, description="why this version (kept with it)")

    def rule(self) -> dict:
        body = self.model_dump(exclude={"note"})
        body["conditions"] = self.conditions.model_dump(exclude_none=True)
        return body


class RuleHits(BaseModel):
    declarations: int = Field(description="declarations looked at")
    hits: int = Field(description="of them, those the rule hits")
    sample: list[str] = Field(description="the ids of the first hits (at most 20)")


class RulePreview(BaseModel):
    """What a rule would hit, nothing saved."""

    manifest: RuleHits = Field(description="the declarations of the last manifest the caller's key scored, highest "
                                           "risk first (none yet: 0)")
    last_30_days: RuleHits = Field(description="the history's declarations of the last 30 days up to its latest day, "
                                               "latest first")


class RuleShown(BaseModel):
    rule_id: str
    version: int
    name: str
    lane: Literal["red", "yellow"]
    conditions: dict[str, Any]
    rationale: str
    instructions: str
    valid_from: Optional[str] = None
    valid_to: Optional[str] = None
    author: str
    created_at: str
    retired: bool
    note: str
    in_words: str = Field(description="the conditions as an analyst reads them")


class RuleFigures(BaseModel):
    hits: int = Field(description="declarations it hit (also those a stronger rule or the model decided)")
    decided: int = Field(0, description="of them, those whose lane this rule decided")
    inspections: int = Field(description="of them, inspected with a result")
    seizures: int
    seizure_rate: Optional[float] = None
    rate_low: Optional[float] = Field(None, description="95 % interval (Wilson)")
    rate_high: Optional[float] = None
    review: bool = Field(description="its last inspections (30) found nothing: due for review")


class RuleWithFigures(RuleShown):
    figures: RuleFigures


class RuleList(BaseModel):
    rules: list[RuleWithFigures]


class RuleVersions(BaseModel):
    versions: list[RuleShown]


class RuleRetire(RequestBody):
    reason: str = Field(min_length=1, max_length=2000, pattern=VISIBLE)


class Rate(BaseModel):
    rate: Optional[float] = Field(None, description="absent without inspections")
    low: Optional[float] = Field(None, description="95 % interval (Wilson)")
    high: Optional[float] = None


class Counts(BaseModel):
    declarations: int
    inspections: int = Field(description="with a result recorded")
    seizures: int
    hit_rate: Rate = Field(description="seizures per inspection")
    seized_kg: float = Field(0.0, description="quantity seized, as the cases recorded it")
    seized_usd: float = Field(0.0, description="value seized, as the cases recorded it")


class WeekCounts(Counts):
    week: str = Field(description="the Monday of the declarations' ISO week")
    lane: Literal["red", "yellow", "green"]
    source: Literal["model", "rule", "control", "override"]


class ControlFigures(BaseModel):
    inspections: int
    seizures: int
    prevalence: Rate = Field(description="share of the control's inspections that found contraband: estimates "
                                         "the share of all declarations that carry it")
    model_recall: Rate = Field(description="of the contraband the control found, the share the model alone would "
                                           "have inspected by its rank")
    in_words: str = Field("", description="what the control can and cannot tell yet")


class LaneWeek(BaseModel):
    lane: Optional[str] = None
    source: Optional[str] = None
    this_week: Counts
    last_week: Counts


class WeekSummary(BaseModel):
    week: Optional[str] = Field(None, description="the Monday of the latest week with decisions")
    last_week: Optional[str] = None
    by_lane: list[LaneWeek]
    by_source: list[LaneWeek]


class SourceRate(BaseModel):
    inspections: int
    seizures: int
    rate: Optional[float] = None
    low: Optional[float] = None
    high: Optional[float] = None


class WeekComparison(BaseModel):
    week: str
    model: SourceRate
    rule: SourceRate


class Performance(BaseModel):
    declarations: int = Field(description="declarations given a lane")
    summary: WeekSummary = Field(description="a supervisor's summary: the latest week against the one before")
    weekly: list[WeekCounts]
    by_source: dict[str, Counts]
    by_lane: dict[str, Counts]
    control: ControlFigures
    model_against_rules: list[WeekComparison]
    latest_retrain: Optional[dict[str, Any]] = Field(None, description="the latest retraining run: cut_off, status "
                                                                       "(promoted or kept), reason, version, drift "
                                                                       "(score_psi, flag_rate, shifted features)")


Evidence.model_rebuild()  # its outcomes are OutcomeVersion, defined after it
