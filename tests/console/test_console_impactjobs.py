"""The impact previews' jobs (`monitor.console.impactjob`): one at a time, in the context of the
request that started them, bounded, expiring, and a failure said in plain words."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest

from monitor.console import impactjob
from monitor.console.impactjob import DONE, FAILED, PreviewJob, PreviewJobs
from monitor.store import scope


def new_job(**fields: Any) -> PreviewJob:
    values: dict[str, Any] = {"proposed": {"local/allow.yaml": "entries: []\n"},
                              "save_url": "/save", "save_fields": {}, "schools": None}  # fmt: skip
    values.update(fields)
    return PreviewJob(**values)


def wait_for(job: PreviewJob) -> None:
    deadline = time.monotonic() + 10
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.finished, job.state


def test_jobs_run_one_at_a_time_in_order_in_their_callers_context() -> None:
    seen: list[tuple[str, frozenset[str] | None, bool, int]] = []
    running = threading.Semaphore(1)

    def run(job: PreviewJob) -> None:
        assert running.acquire(blocking=False), "two previews ran at once"
        seen.append((job.save_url, scope.current(), gc.isenabled(), len(job.proposed)))
        time.sleep(0.05)
        job.state = DONE
        running.release()

    jobs = PreviewJobs(run)
    with scope.only_schools({"northfield"}):
        first = jobs.submit(new_job(save_url="/first"))
    second = jobs.submit(new_job(save_url="/second"))
    wait_for(first)
    wait_for(second)
    assert seen == [("/first", frozenset({"northfield"}), False, 1), ("/second", None, False, 1)]
    assert gc.isenabled()  # the collector runs again once a preview is over
    assert first.proposed == {} and second.proposed == {}  # the texts are not kept
    assert first.cpu_seconds >= 0 and first.seconds >= 0.05
    assert jobs.get(first.id) is first and jobs.get("no-such-job") is None
    assert len(first.id) >= 32  # unguessable


def test_too_many_waiting_are_refused_and_say_so() -> None:
    gate = threading.Event()

    def run(job: PreviewJob) -> None:
        gate.wait(10)
        job.state = DONE

    jobs = PreviewJobs(run)
    made = [jobs.submit(new_job()) for _ in range(impactjob.MAX_WAITING + 2)]
    refused = made[-1]
    assert refused.state == FAILED and refused.savable
    assert "other previews" in refused.notes[0]
    gate.set()
    for job in made[:-1]:
        wait_for(job)
    assert all(job.state == DONE for job in made[:-1])


def test_jobs_expire_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(job: PreviewJob) -> None:
        job.state = DONE

    monkeypatch.setattr(impactjob, "MAX_JOBS", 3)
    jobs = PreviewJobs(run)
    made = []
    for _ in range(5):
        made.append(jobs.submit(new_job()))
        wait_for(made[-1])
    assert len(jobs) == 3 and jobs.get(made[0].id) is None  # the oldest finished went first
    made[-1].created -= impactjob.KEEP_SECONDS + 1
    assert jobs.get(made[-1].id) is None and made[-1].cancelled


def test_a_failing_preview_says_so_and_still_offers_the_save() -> None:
    def run(job: PreviewJob) -> None:
        raise RuntimeError("user:pupil.amy broke it")  # what went wrong goes to the log only

    jobs = PreviewJobs(run)
    job = jobs.submit(new_job())
    wait_for(job)
    assert job.state == FAILED and job.savable
    assert job.notes == ("The preview failed (the console's log says why).",)
