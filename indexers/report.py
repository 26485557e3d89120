"""What an indexing run did: counts, and every skipped file with its reason."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# errno values that mean "no room to write": the disk is full, a quota or a file-size limit
# (`ulimit -f`) was hit. Such a failure stops the run; it is not a bad input to skip.
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def is_out_of_room(exc: BaseException) -> bool:
    """True for an OSError that says there is no room left to write."""
    return isinstance(exc, OSError) and exc.errno in NO_ROOM_ERRNOS


@dataclass
class IndexReport:
    kind: str
    indexed: int = 0  # new or changed items written
    unchanged: int = 0  # already in the index (same content hash)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    collections: list[str] = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        """Record a bad input; the run goes on. The summary lists it once at the end, so it
        is logged only at INFO (`-v` shows it as it happens)."""
        self.failed.append((path, reason))
        log.info("skipped %s: %s", path, reason)

    @property
    def ok(self) -> bool:
        """A run succeeded if nothing failed or at least something is in the index."""
        return not self.failed or (self.indexed + self.unchanged) > 0

    def summary(self) -> str:
        lines = [
            f"{self.kind}: {self.indexed} indexed, {self.unchanged} unchanged, {len(self.failed)} skipped"
            f" in {self.seconds:.1f} s"
        ]
        for path, reason in self.failed:
            lines.append(f"  skipped {path}: {reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "skipped": [{"path": p, "reason": r} for p, r in self.failed],
            "seconds": round(self.seconds, 3),
            "collections": self.collections,
        }
