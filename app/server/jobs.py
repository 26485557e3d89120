"""Background index jobs: a queue worked by one thread (one writer to the store), with progress,
cancel, and a state file so a job cut short by a shutdown or a crash resumes on the next start.

Indexers store in batches keyed by content hash, so resuming a job re-reads its files and
skips what is already stored: no duplicates.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


class JobCancelled(Exception):
    """Raised inside a run (from its progress callback) to stop it at a batch boundary."""


@dataclass
class Job:
    """One index job and what it has done so far."""

    id: str
    kind: str
    paths: list[str]
    label: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: float = 0.0
    total: float = 0.0
    indexed: int = 0
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    resumed: int = 0  # times picked up again after an interruption

    @property
    def fraction(self) -> float:
        """Progress from 0 to 1 (0 until the total is known)."""
        return min(1.0, self.done / self.total) if self.total else (1.0 if self.state == "done" else 0.0)

    def to_json(self) -> dict[str, Any]:
        """The API's form of a job."""
        return {**asdict(self), "fraction": round(self.fraction, 4)}


Runner = Callable[[str, list[str], Callable[[float, float], None]], Any]


class JobRunner:
    """Runs jobs one at a time on a worker thread. `run(kind, paths, progress)` does the work
    and returns an IndexReport; `state_file` keeps the job list across restarts."""

    def __init__(self, run: Runner, state_file: Path | None = None, on_finish: Callable[[Job], None] | None = None) -> None:
        self.run = run
        self.state_file = state_file
        self.on_finish = on_finish
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.stopping = False
        self.cancelled: set[str] = set()
        self.load()
        self.worker = threading.Thread(target=self.work, name="mmsearch-jobs", daemon=True)
        self.worker.start()

    # -- the API -------------------------------------------------------------------------
    def submit(self, kind: str, paths: list[str], label: str | None = None, skipped: list[tuple[str, str]] | None = None) -> Job:
        """Queue a job; `skipped` lists inputs refused before it started (they show in its report)."""
        job = Job(uuid.uuid4().hex[:12], kind, list(paths), label or ", ".join(Path(p).name for p in paths[:3]))
        job.skipped = [{"path": p, "reason": r} for p, r in skipped or []]
        with self.wake:
            self.jobs[job.id] = job
            self.save()
            self.wake.notify_all()
        log.info("job %s queued: %s %s", job.id, kind, job.label)
        return job

    def list(self) -> list[Job]:
        """Every job, newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: -j.created)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if any."""
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job, or stop a running one at its next batch."""
        with self.wake:
            job = self.jobs.get(job_id)
            if job is None or job.state not in ACTIVE:
                return job
            if job.state == "queued":
                job.state, job.finished = "cancelled", time.time()
            else:
                self.cancelled.add(job_id)
            self.save()
            return job

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Block until the job is no longer queued or running (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        with self.wake:
            while (job := self.jobs.get(job_id)) is not None and job.state in ACTIVE:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.wake.wait(left)
            return job

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop taking jobs; a running job stops at its next batch and stays queued for the next start."""
        with self.wake:
            self.stopping = True
            self.wake.notify_all()
        self.worker.join(timeout)

    # -- the worker ----------------------------------------------------------------------
    def work(self) -> None:
        while True:
            with self.wake:
                while not self.stopping and not (queued := [j for j in self.jobs.values() if j.state == "queued"]):
                    self.wake.wait()
                if self.stopping:
                    return
                job = min(queued, key=lambda j: j.created)
                job.state = "running"
                self.save()
            self.run_one(job)

    def run_one(self, job: Job) -> None:
        def progress(done: float, total: float) -> None:
            with self.wake:
                job.done, job.total = done, total
                self.wake.notify_all()
                if job.id in self.cancelled:
                    raise JobCancelled(job.id)
                if self.stopping:
                    raise JobCancelled("shutdown")

        early = list(job.skipped)
        try:
            report = self.run(job.kind, job.paths, progress)
        except JobCancelled as stop:
            with self.wake:
                if str(stop) == "shutdown":
                    job.state, job.resumed = "queued", job.resumed + 1  # picked up again on the next start
                    log.info("job %s interrupted by shutdown; it resumes on the next start", job.id)
                else:
                    job.state, job.finished = "cancelled", time.time()
                self.cancelled.discard(job.id)
                self.save()
                self.wake.notify_all()
            return
        except Exception as exc:  # a job's failure is reported on the job, the server goes on
            from app.errors import user_message

            log.warning("job %s failed", job.id, exc_info=True)
            with self.wake:
                job.state, job.error, job.finished = "failed", user_message(exc), time.time()
                self.save()
                self.wake.notify_all()
            return
        with self.wake:
            job.indexed, job.unchanged = report.indexed, report.unchanged
            job.skipped = early + [{"path": p, "reason": r} for p, r in report.failed]
            job.state, job.finished = "done", time.time()
            job.done = job.total
            self.save()
            self.wake.notify_all()
        log.info("job %s done: %s", job.id, report.summary().splitlines()[0])
        if self.on_finish:
            self.on_finish(job)

    # -- the state file ------------------------------------------------------------------
    def load(self) -> None:
        """Read the job list; jobs that were queued or running when the last process stopped run again."""
        if not self.state_file or not self.state_file.is_file():
            return
        try:
            rows = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            log.warning("ignoring an unreadable job file %s", self.state_file)
            return
        fields = set(Job.__dataclass_fields__)
        for row in rows:
            job = Job(**{k: v for k, v in row.items() if k in fields})
            if job.state == "running":
                job.state, job.resumed = "queued", job.resumed + 1
            self.jobs[job.id] = job

    def save(self) -> None:
        """Write the job list (called with the lock held)."""
        if not self.state_file:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(j) for j in self.jobs.values()], indent=1))
        tmp.replace(self.state_file)
