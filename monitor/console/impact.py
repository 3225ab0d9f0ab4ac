"""What would this change do? The impact preview of a proposed policy change, before it is saved.

The list editor calls `start_preview()` with the proposed texts of the files it would change
and where its save form goes; the preview runs in the background and `/it/impact/<job>` shows
its progress (a `<progress>` bar and a one-second refresh, no script), then the result: what
the change would newly block, newly allow and record differently over the last 7 days of
recorded requests, as hosts, requests and people counted per change and category, with the
hosts hit hardest and the list file:line that made the difference; and a form that posts the
editor's own fields to its save URL. A proposed policy with problems shows them (file:line)
and offers no save.

The page shows counts, never identities, to every role that may open it (IT staff, the Prevent
lead, an administrator: `Can.IMPACT`): the preview is about the policy, not about pupils.
How it reads and decides is in `monitor.console.impactreplay`; docs/console.md says what it
can and cannot see.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web

from monitor.console.impactfolder import PreviewRefused, check_proposed
from monitor.console.impactjob import PreviewJob, PreviewJobs
from monitor.console.impactreplay import PERIOD, run_preview
from monitor.console.impacttally import HEADINGS
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires
from monitor.store import scope

routes = web.RouteTableDef()
JOBS_KEY = "impact.previews"  # in `Console.cache`: the console's PreviewJobs
WORK_FOLDER = "impact-preview"  # under the console's data_dir: the private policy copy
MAX_SAVE_BYTES = 256 * 1024  # the console takes no bigger POST (create_app's client_max_size)


async def start_preview(
    console: Console, proposed: dict[str, str], save_url: str, save_fields: dict[str, str]
) -> str:
    """Start previewing `proposed` (policy-folder-relative path -> proposed full text) and
    return the job's id (unguessable) for `/it/impact/<id>`. Its save form posts
    `save_fields` (and the session's CSRF token) to `save_url`, a path of this console.

    Raises `PreviewRefused` (a `ValueError`) for a path outside the policy folder or a save
    target that is not a plain local path; nothing is started then. Previews run one at a time
    per console; a second waits for the first (its page says so)."""
    check_proposed(proposed)
    _check_save(save_url, save_fields)
    job = PreviewJob(
        proposed=dict(proposed),
        save_url=save_url,
        save_fields=dict(save_fields),
        schools=scope.current(),  # only accounts that see these schools may look at it
    )
    return previews(console).submit(job).id


def previews(console: Console) -> PreviewJobs:
    """The console's previews, made on first use."""
    cached = console.cache.get(JOBS_KEY)
    if cached is not None:
        jobs: PreviewJobs = cached[1]
        return jobs
    jobs = PreviewJobs(functools.partial(_run, console))
    console.cache[JOBS_KEY] = (time.monotonic(), jobs)
    return jobs


def _run(console: Console, job: PreviewJob) -> None:
    run_preview(job, console.store, console.policy_path, console.data_dir / WORK_FOLDER)


def _check_save(save_url: str, save_fields: Mapping[str, str]) -> None:
    local = save_url.startswith("/") and not save_url.startswith(("//", "/\\"))
    if not local or any(ord(c) < 33 or c == "\\" for c in save_url):
        raise PreviewRefused(f"{save_url!r}: the save form must post to a path of the console")
    size = 0
    for name, value in save_fields.items():
        if not isinstance(name, str) or not isinstance(value, str) or name == "csrf_token":
            raise PreviewRefused(f"{name!r}: save fields are text, and not the CSRF token")
        size += len(name.encode()) + len(value.encode())
    if size > MAX_SAVE_BYTES:
        # A form the console would refuse to take: better said now than after the preview.
        raise PreviewRefused(f"the save fields are over {MAX_SAVE_BYTES // 1024} KB")


@routes.get("/it/impact/{job}")
@requires(Can.IMPACT)
async def impact_page(request: web.Request) -> web.Response:
    """The preview's progress, then its result and the save form."""
    job = previews(console_of(request)).get(request.match_info["job"])
    if job is None or not _may_see(job):
        raise web.HTTPNotFound(
            text="This preview has expired (previews are kept for 30 minutes) or never "
            "existed: go back to the change and preview it again."
        )
    return aiohttp_jinja2.render_template(
        "impact.html",
        request,
        {
            "title": "What would this change do?" if job.finished else "Previewing the change",
            "job": job,
            "result": job.result,
            "headings": HEADINGS,
            "days": PERIOD.days,
            "percent": round(job.fraction * 100),
        },
    )


def _may_see(job: PreviewJob) -> bool:
    """A preview of one school's week is for accounts that see that school."""
    viewer = scope.current()
    if viewer is None:
        return True
    return job.schools is not None and job.schools <= viewer
