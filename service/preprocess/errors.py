"""The one exception preprocessing raises; the service maps it to HTTP 422."""

from __future__ import annotations


class PreprocessError(ValueError):
    """Input that breaks a rule of the model's preprocessing.

    ``field`` names the offending request field (e.g. ``"text"``, ``"history"``), ``rule`` says
    what was expected, so an API user can fix the request without reading our code.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
