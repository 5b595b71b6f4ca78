"""The same batch on a Dask cluster: each worker decodes, runs and writes its cases to the shared output folder;
the client collects the rows as the futures complete.

``scheduler``: ``"local"`` starts a :class:`distributed.LocalCluster` of ``workers`` processes (one thread each,
torch threads split between them); any other value is the address of a running scheduler (``tcp://host:8786``),
whose workers must see the input and output folders at the same paths.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from radtriage.batch.inputs import CaseJob
from radtriage.batch.worker import base_row, process_case

log = logging.getLogger(__name__)


def _client(stack: ExitStack, scheduler: str, workers: int) -> Any:
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = stack.enter_context(LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                                   dashboard_address=None))
        return stack.enter_context(Client(cluster))
    return stack.enter_context(Client(scheduler))


def run_on_dask(
    jobs: Sequence[CaseJob],
    out: str | Path,
    *,
    scheduler: str = "local",
    workers: int = 2,
    bundle: str | None = None,
    device: str = "auto",
    torch_threads: int | None = None,
    dicom: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield one row per job as the cluster finishes them (completion order)."""
    from distributed import as_completed

    if not jobs:
        return
    if torch_threads is None and scheduler == "local":
        torch_threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    out = str(Path(out).resolve())
    with ExitStack() as stack:
        client = _client(stack, scheduler, workers)
        log.info("dask: %d case(s) on %s", len(jobs), client.scheduler.address)
        futures = {
            client.submit(process_case, job, out, bundle=bundle, device=device, torch_threads=torch_threads,
                          dicom=dicom, key=f"radtriage-batch-{n}-{job.task}", pure=False): job
            for n, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # a worker died (KilledWorker) or the task could not be shipped
                yield base_row(job, "error", error=f"{type(exc).__name__} on the Dask cluster: {exc}")
            finally:
                future.release()
