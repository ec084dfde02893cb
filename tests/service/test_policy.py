from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.policy import Action, Objective, Policy, ProbabilityThresholds, Thresholds
from service.settings import Settings


def test_probability_thresholds_choose_the_action() -> None:
    policy = Policy()
    assert [policy.decide(s, None)[0] for s in (0.01, 0.05, 0.2, 0.4, 0.9)] == [
        Action.RELEASE, Action.DOCUMENT_REVIEW, Action.NON_INTRUSIVE_EXAM, Action.PHYSICAL_EXAM, Action.PHYSICAL_EXAM,
    ]  # fmt: skip
    assert policy.decide(0.9, 1e6)[1] is Objective.PROBABILITY  # ranks by probability unless told otherwise


def test_expected_revenue_objective_and_its_fallback() -> None:
    policy = Policy(objective=Objective.EXPECTED_REVENUE)
    assert policy.decide(0.9, 10.0) == (Action.RELEASE, Objective.EXPECTED_REVENUE)  # likely, but little at stake
    assert policy.decide(0.02, 8000.0) == (Action.PHYSICAL_EXAM, Objective.EXPECTED_REVENUE)
    assert policy.decide(0.9, None) == (Action.PHYSICAL_EXAM, Objective.PROBABILITY)  # model without revenue part


def test_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETING_POLICY__OBJECTIVE", "expected_revenue")
    monkeypatch.setenv("TARGETING_POLICY__EXPECTED_REVENUE__PHYSICAL_EXAM", "20000")
    policy = Settings().policy
    assert policy.objective is Objective.EXPECTED_REVENUE and policy.expected_revenue.physical_exam == 20000
    assert policy.expected_revenue.document_review == 50  # the rest keep their defaults


def test_thresholds_must_rise() -> None:
    with pytest.raises(ValidationError, match="must rise"):
        Thresholds(document_review=0.5, non_intrusive_exam=0.2, physical_exam=0.9)
    with pytest.raises(ValidationError, match="less than 1"):
        ProbabilityThresholds(physical_exam=1.5)
