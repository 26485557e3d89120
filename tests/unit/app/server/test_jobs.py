"""The background job runner: one job at a time, progress, cancel, and resume after a restart."""

from __future__ import annotations

import threading
from pathlib import Path

from app.errors import QueryError
from app.server.jobs import JobRunner
from indexers.report import IndexReport


class Steps:
    """A fake index run of `n` batches; `gate` holds it after the first batch until released."""

    def __init__(self, n: int = 3) -> None:
        self.n = n
        self.gate = threading.Event()
        self.first_batch = threading.Event()
        self.calls: list[list[str]] = []

    def __call__(self, kind, paths, progress) -> IndexReport:
        self.calls.append(list(paths))
        for i in range(1, self.n + 1):
            progress(i, self.n)
            if i == 1:
                self.first_batch.set()
                self.gate.wait(60)
        return IndexReport(kind, indexed=self.n, failed=[("bad.jpg", "not an image")])


def test_a_job_runs_reports_progress_and_its_skipped_files(tmp_path: Path):
    run = Steps()
    run.gate.set()
    jobs = JobRunner(run, tmp_path / "jobs.json")
    job = jobs.submit("images", ["/x"], skipped=[("/x/link", "a link to outside")])
    done = jobs.wait(job.id, 60)
    assert done.state == "done" and done.fraction == 1.0 and done.indexed == 3
    assert [s["path"] for s in done.skipped] == ["/x/link", "bad.jpg"]
    jobs.shutdown()


def test_cancel_stops_a_running_job_at_its_next_batch(tmp_path: Path):
    run = Steps()
    jobs = JobRunner(run, tmp_path / "jobs.json")
    job = jobs.submit("images", ["/x"])
    assert run.first_batch.wait(60)
    jobs.cancel(job.id)
    run.gate.set()
    done = jobs.wait(job.id, 60)
    assert done.state == "cancelled" and done.done < 3  # stopped at a batch boundary, not run to the end
    jobs.shutdown()


def test_shutdown_keeps_the_job_for_the_next_start_which_resumes_it(tmp_path: Path):
    state = tmp_path / "jobs.json"
    run = Steps()
    jobs = JobRunner(run, state)
    job = jobs.submit("images", ["/x"])
    assert run.first_batch.wait(60)
    stopper = threading.Thread(target=jobs.shutdown)
    stopper.start()
    run.gate.set()
    stopper.join(60)
    assert jobs.get(job.id).state == "queued"

    again = Steps()
    again.gate.set()
    restarted = JobRunner(again, state)
    done = restarted.wait(job.id, 60)
    assert done.state == "done" and done.resumed == 1 and again.calls == [["/x"]]
    restarted.shutdown()


def test_a_failing_job_says_why_and_the_next_one_runs(tmp_path: Path):
    def run(kind, paths, progress):
        if paths == ["/broken"]:
            raise QueryError("the profile names no sound encoder")
        return IndexReport(kind, indexed=1)

    jobs = JobRunner(run, None)
    bad, good = jobs.submit("audio", ["/broken"]), jobs.submit("images", ["/fine"])
    assert jobs.wait(bad.id, 60).error == "the profile names no sound encoder"
    assert jobs.wait(good.id, 60).state == "done"
    jobs.shutdown()
