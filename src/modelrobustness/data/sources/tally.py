"""What a download produced: images per class and skipped files by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ...utils.errors import UserError
from ..images import SKIP_REASONS


class DownloadError(UserError, RuntimeError):
    """A data source could not be fetched, failed its integrity check, or is unusable."""


@dataclass
class DownloadReport:
    """Counts of kept images per class and of skipped files, each with its reason."""

    per_class: Counter = field(default_factory=Counter)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, detail)
    ignored: list[str] = field(default_factory=list)  # files outside any class folder

    def keep(self, class_name: str) -> None:
        self.per_class[class_name] += 1

    def skip(self, path: str, reason: str, detail: str) -> None:
        self.skipped.append((path, reason, detail))

    def metrics(self, class_names: list[str]) -> dict:
        """The ``metrics/download.json`` content: every reason listed, zero or not."""
        by_reason = Counter(reason for _, reason, _ in self.skipped)
        reasons = list(SKIP_REASONS) + sorted(set(by_reason) - set(SKIP_REASONS))
        return {
            "images": int(sum(self.per_class.values())),
            "classes": len(class_names),
            "class_names": list(class_names),
            "per_class": {name: int(self.per_class[name]) for name in class_names},
            "skipped": len(self.skipped),
            "skipped_by_reason": {reason: int(by_reason[reason]) for reason in reasons},
            "ignored_files": len(self.ignored),
        }
