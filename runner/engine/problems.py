"""Deploy-time problems: each names the file, the element and what is wrong."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    element_id: str | None
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}" + (f" #{self.element_id}" if self.element_id else "")
        return f"{where}: {self.message}"


class DeploymentInvalid(Exception):
    """The files of a deployment do not form a runnable set; `problems` lists why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
