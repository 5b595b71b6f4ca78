"""Benchmarks (``radtriage bench``): per-task timings on phantoms of realistic sizes, reported against targets.

Each task that has one provides ``radtriage.bench.<task>.run_benchmark(repeats, device) -> dict`` with per-stage
median milliseconds (``stages_ms``), its headline figures and the targets beside them, and optionally ``peers``:
a published network timed on the same input, as a ratio ours/peer (:mod:`radtriage.bench.peers`), and beside it
what a reader waits for through the front ends' warm worker (:mod:`radtriage.bench.front_end`). This package
runs each in a fresh process, so every task's peak resident memory is its own, and collects the results.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import platform
import resource
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from radtriage.bench.front_end import front_end_summary, measure_front_end
from radtriage.bench.peers import format_peers
from radtriage.bench.real_data import bench_real_case
from radtriage.tasks import TASKS

PEAK_RSS_TARGET_MB = 4096.0
"""Issue target: peak RAM below 4 GB per study."""


def available_benchmarks() -> list[str]:
    """Tasks that ship a benchmark module."""
    return [task for task in TASKS if importlib.util.find_spec(f"{__name__}.{task}") is not None]


def _peak_rss_mb() -> float:
    scale = 1.0 / 1024.0 if sys.platform != "darwin" else 1.0 / (1024.0 * 1024.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _run_one(task: str, repeats: int, device: str) -> dict[str, Any]:
    module = importlib.import_module(f"{__name__}.{task}")
    result = dict(module.run_benchmark(repeats=repeats, device=device))
    try:
        result["real_data"] = bench_real_case(task, repeats=min(repeats, 3), device=device)
    except Exception as exc:  # a real study the task refuses is a finding to report, not a crash of the bench
        result["real_data"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        result.update(front_end_summary(result, measure_front_end(task, repeats=min(repeats, 3), device=device)))
    except Exception as exc:  # no worker here (or a failing run) is reported beside the in-process figures
        result["front_end_error"] = f"{type(exc).__name__}: {exc}"
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    result["peak_rss_target_mb"] = PEAK_RSS_TARGET_MB
    return result


def run_benchmarks(tasks: list[str] | None = None, repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    """Run the benchmarks of ``tasks`` (default: all available), each in its own process; returns one report."""
    chosen = tasks or available_benchmarks()
    unknown = [t for t in chosen if t not in available_benchmarks()]
    if unknown:
        raise ValueError(f"no benchmark for {', '.join(unknown)}; available: {', '.join(available_benchmarks())}")
    results: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")
    for task in chosen:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            try:
                results[task] = pool.submit(_run_one, task, repeats, device).result()
            except Exception as exc:  # a failing benchmark is reported, not fatal to the others
                results[task] = {"task": task, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "device": device,
        "repeats": repeats,
        "results": results,
    }


def _format_real(real: dict[str, Any] | None) -> list[str]:
    if not real:
        return []
    if "stages_ms" not in real:
        return [f"  real data: {real.get('skipped') or real.get('error')}"]
    stages = ", ".join(f"{k} {v:.0f}" for k, v in real["stages_ms"].items())
    return [f"  real data {'+'.join(real['inputs'].values())} {real['size']}: {real['end_to_end_ms']:.0f} ms "
            f"end to end ({stages} ms)"]


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table: per task, stage medians, headline figures against targets, and peak memory."""
    lines = [f"radtriage bench on {report['machine']['platform']} ({report['device']}, median of "
             f"{report['repeats']} runs)"]
    for task, res in report["results"].items():
        lines.append("")
        if "error" in res:
            lines.append(f"{task}: FAILED {res['error']}")
            continue
        lines.append(f"{task}  [{res.get('device', report['device'])}, model {res.get('model', '?')}]")
        for stage, ms in res.get("stages_ms", {}).items():
            lines.append(f"  {stage:<22} {ms:>10.2f} ms")
        for key, value in res.items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and key.endswith(("_per_s", "_ms", "_s")):
                lines.append(f"  {key:<22} {value:>10.2f}")
        if "target_ms" in res or "targets" in res:
            lines.append(f"  targets: {res.get('targets', res.get('target_ms'))}")
        if "meets_target" in res:
            lines.append(f"  meets target: {'yes' if res['meets_target'] else 'NO'}")
        if "front_end_ratio" in res:
            lines.append(f"  front end (warm worker) / in process: {res['front_end_ratio']:.2f} (target <= "
                         f"{res['front_end_ratio_target']}: {'yes' if res['front_end_meets_target'] else 'NO'})")
        elif "front_end_error" in res:
            lines.append(f"  front end: not measured ({res['front_end_error']})")
        if res.get("peers"):
            lines += format_peers(res["peers"])
        lines += _format_real(res.get("real_data"))
        rss_ok = res["peak_rss_mb"] <= res["peak_rss_target_mb"]
        lines.append(f"  peak RSS {res['peak_rss_mb']:.0f} MB (target < {res['peak_rss_target_mb']:.0f} MB: "
                     f"{'yes' if rss_ok else 'NO'})")
    return "\n".join(lines)
