"""What one fill did, as a value: the model, the settings, the exact calls, the seeds, the plan.

Read by attribute everywhere (CLI summary, job status, benchmarks); ``to_json`` is the one place
that spells the wire's keys and their order (``fill --report`` and ``GET /v1/jobs/{id}``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .fill_plan import FillPlan, RegionPlan
from .presets import SamplingSettings
from .regions import Rect


@dataclass(frozen=True)
class FillReport:
    """One fill's facts: who ran it, with which walk, at what cost, over which regions."""

    model: str
    device: str
    dtype: str
    settings: SamplingSettings
    model_calls: int
    seconds: float
    seeds: tuple[int, ...]
    variations: int
    working_size: tuple[int, int]  # the largest working size any level ran at (w, h)
    crop: Rect  # the result's crop in the request image
    image_size: tuple[int, int]  # the request image (w, h)
    detail: str
    refine_strength: float
    harmonize: bool  # the seam's colour step was removed (harmonize.py)
    regions: tuple[RegionPlan, ...]
    detail_match: bool  # the fill's grain was matched to its surroundings' (detail_match.py)

    @property
    def depth(self) -> int:
        """The most levels any region ran."""
        return max(len(region.levels) for region in self.regions)

    def regions_json(self) -> list[dict]:
        """``regions`` as the report and the job status show it."""
        return [region.report() for region in self.regions]

    def to_json(self) -> dict:
        """The report's JSON object: the keys and their order the CLI and the API have always
        written (the settings' fields spread between ``dtype`` and ``model_calls``); newer keys
        (``harmonize``, ``detail_match``) come last."""
        crop = self.crop
        return {
            "model": self.model,
            "device": self.device,
            "dtype": self.dtype,
            **asdict(self.settings),
            "model_calls": self.model_calls,
            "seconds": self.seconds,
            "seeds": list(self.seeds),
            "variations": self.variations,
            "working_size": list(self.working_size),
            "crop": [crop.x, crop.y, crop.width, crop.height],
            "image_size": list(self.image_size),
            "detail": self.detail,
            "refine_strength": self.refine_strength,
            "regions": self.regions_json(),
            "harmonize": self.harmonize,
            "detail_match": self.detail_match,
        }


def finest_working_size(plan: FillPlan) -> tuple[int, int]:
    """The largest working size any level of the plan runs at (the report's ``working_size``)."""
    sizes = [level.working_size for region in plan.regions for level in region.levels]
    return max(sizes, key=lambda size: size[0] * size[1])
