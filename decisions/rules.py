"""Hard rules of the targeting policy: conditions on an entry's fields, or a party on a watchlist, that set a
minimum intervention whatever the score."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from decisions.actions import ORDER, Action
from features.definitions import rule_fields
from features.schema import text, text_schema

WATCHLISTS = {
    "importers": "importer_id",
    "manufacturers": "manufacturer_id",
    "shippers": "shipper_id",
    "sellers": "seller_id",
}


def _holds_if_comparable(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """A comparison that does not hold, rather than raising, when its two sides cannot be compared: text
    against a number, or a number `in` a text. The schema lets a rule name any scalar, so the values an entry
    brings decide whether a comparison makes sense; a policy must never turn scoring into an error."""

    def check(value: Any, operand: Any) -> bool:
        try:
            return bool(compare(value, operand))
        except TypeError:
            return False

    return check


OPERATORS = {
    op: _holds_if_comparable(compare)
    for op, compare in {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "in": lambda a, b: a in b,
    }.items()
}


def _when_schema(schema: dict[str, Any]) -> None:
    """`when` in the schema: known fields only, each a value or {operator: value} with a known operator."""
    scalar = {"type": ["string", "number", "boolean"], "pattern": text(0)}
    schema["propertyNames"] = {"enum": sorted(rule_fields())}
    schema["additionalProperties"] = {
        "anyOf": [
            scalar,
            {"type": "array", "items": scalar},
            {
                "type": "object",
                "propertyNames": {"enum": list(OPERATORS)},
                "minProperties": 1,
                "additionalProperties": {"anyOf": [scalar, {"type": "array", "items": scalar}]},
            },
        ]
    }


def _rule_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": ["when"], "properties": {"when": {"minProperties": 1}}},
        {"required": ["watchlist"], "properties": {"watchlist": {"type": "string"}}},
    ]


class Rule(BaseModel):
    """A hard rule: when every condition holds (or the entry's party is on a watchlist), the entry gets at
    least `min_action`, and `reason` joins its reasons."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra=_rule_schema)
    name: str = Field(min_length=1, max_length=64, json_schema_extra=text_schema(1))
    when: dict[str, Any] = Field(
        {},
        description="field: value, or field: {op: value} with op in ==,!=,>,>=,<,<=,in",
        json_schema_extra=_when_schema,
    )
    watchlist: Literal["importers", "manufacturers", "shippers", "sellers"] | None = None
    min_action: Action
    reason: str = Field(min_length=5, max_length=300, json_schema_extra=text_schema(5))

    @model_validator(mode="after")
    def _fields_exist(self) -> Rule:
        if not self.when and self.watchlist is None:
            raise ValueError(f"rule {self.name!r} needs conditions (when) or a watchlist")
        known = rule_fields()
        for field, test in self.when.items():
            if field not in known:
                raise ValueError(f"rule {self.name!r}: unknown field {field!r}")
            if isinstance(test, dict):
                for op in test:
                    if op not in OPERATORS:
                        raise ValueError(f"rule {self.name!r}: unknown operator {op!r} on {field!r}")
        return self

    def holds(self, values: dict[str, Any], listed: set[tuple[str, str]]) -> bool:
        if self.watchlist is not None and (self.watchlist, str(values.get(WATCHLISTS[self.watchlist]))) not in listed:
            return False
        for field, test in self.when.items():
            value = values.get(field)
            checks = test.items() if isinstance(test, dict) else [("==", test)]
            if value is None or not all(OPERATORS[op](value, want) for op, want in checks):
                return False
        return True


def strongest(rules: list[Rule]) -> Action:
    return max((r.min_action for r in rules), key=ORDER.index, default=Action.RELEASE)
