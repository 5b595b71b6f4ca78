"""In-process execution with decode overlapped with inference: a small thread pool reads the next cases while
the current one runs, bounded so at most ``prefetch`` decoded cases wait in memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from radtriage.batch.inputs import CaseJob
from radtriage.batch.worker import DecodedCase, decode_case, run_decoded


def run_in_process(
    jobs: Iterable[CaseJob],
    out: str | Path,
    *,
    bundle: str | None = None,
    device: str = "auto",
    prefetch: int = 2,
    dicom: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield one row per job, in order. ``prefetch`` = 0 reads each case only when its turn comes."""
    pending: deque[tuple[CaseJob, Future[DecodedCase]]] = deque()
    todo = iter(jobs)
    if prefetch <= 0:
        for job in todo:
            yield run_decoded(decode_case(job), out, bundle=bundle, device=device, dicom=dicom)
        return
    with ThreadPoolExecutor(max_workers=prefetch, thread_name_prefix="radtriage-decode") as pool:

        def submit_next() -> None:
            job = next(todo, None)
            if job is not None:
                pending.append((job, pool.submit(decode_case, job)))

        for _ in range(prefetch):
            submit_next()
        while pending:
            _job, future = pending.popleft()
            submit_next()  # keep `prefetch` reads going while this case runs
            yield run_decoded(future.result(), out, bundle=bundle, device=device, dicom=dicom)
