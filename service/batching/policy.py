"""Which batching settings are in force for a model: ``settings.batching`` decides whether they
come from the settings, from the package's ``model.json``, or are off; the result is reported
with its source in the model's runtime configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.package import BatchingConfig
from service.settings import Settings


@dataclass(frozen=True)
class BatchPolicy:
    """The batching settings in force for one model, and where they came from."""

    enabled: bool
    #: most rows one batched ``session.run`` may hold (rows per *request* is ``max_request_rows``)
    max_batch_rows: int
    max_queue_delay_us: int
    max_queue_size: int
    source: str

    @classmethod
    def off(cls, source: str = "not batched") -> BatchPolicy:
        return cls(False, 1, 0, 0, source)

    @classmethod
    def resolve(cls, settings: Settings, package: BatchingConfig) -> BatchPolicy:
        """``batching=on``: the settings' values; ``package``: model.json; ``off``: none."""
        if settings.batching == "off":
            return cls(False, 1, 0, settings.max_queue_size, "settings (batching=off)")
        if settings.batching == "package":
            return cls(
                package.max_batch_rows > 1,
                package.max_batch_rows,
                package.max_queue_delay_us,
                package.max_queue_size,
                "model.json batching",
            )
        return cls(
            settings.max_batch_rows > 1,
            settings.max_batch_rows,
            settings.max_queue_delay_us,
            settings.max_queue_size,
            "settings (batching=on)",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_batch_rows": self.max_batch_rows,
            "max_queue_delay_us": self.max_queue_delay_us,
            "max_queue_size": self.max_queue_size,
            "source": self.source,
        }
