"""Train a two-head LGE slice model (likelihood 0-100 + high/low certainty), as Zaman et al. 2024 (JCMR) do.

Per slice the targets come from :class:`~radtriage.tasks.lge_certainty.slices.SliceRecord`: likelihood = the
readers' mean rating (or ``100 * label``), certainty class = the :class:`ReaderCertaintyRule` applied to the
readers' ratings (slices without ratings train only the likelihood head). Loss: BCE of the likelihood logit on
target/100 plus BCE of the certainty logit on the class (masked where unknown). Splits are by patient.
After training a temperature for the likelihood head is fitted on the validation split against the binary truth.

:func:`train_lge_bundle` writes a bundle (``radtriage.outputs.certainty_head`` when a certainty head was
trained); :func:`cross_validate` gives out-of-fold likelihoods with patient-level folds (sklearn
``StratifiedGroupKFold``) and the AUC with a patient-level bootstrap CI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.preprocess.transforms import Preprocessing
from radtriage.seed_papers import SEED_PAPERS
from radtriage.tasks.lge_certainty.calibration import fit_temperature, likelihood_from_logits
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule
from radtriage.tasks.lge_certainty.prep import SlicePrep, prepare_slice, resample_slice
from radtriage.tasks.lge_certainty.slices import SliceRecord

log = logging.getLogger(__name__)

NETWORK = "radtriage.nets.lge.LgeEfficientNetV2"


@dataclass
class LgeTrainSettings:
    """Training knobs (defaults sized for a small CPU run)."""

    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    certainty_weight: float = 1.0
    evidence_weight: float = 1.0
    """Weight of the dense evidence-map loss when slices carry enhancement masks (0: no evidence map)."""
    patience: int = 6
    seed: int = 0
    threads: int = 2
    default_pixel_mm: float = 1.5
    dropout: float = 0.2
    prep: SlicePrep = field(default_factory=lambda: SlicePrep(fov_mm=144.0, patch=64))
    rule: ReaderCertaintyRule = field(default_factory=ReaderCertaintyRule)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out = asdict(self)
        out["prep"] = self.prep.to_dict()
        out["rule"] = self.rule.to_dict()
        return out


@dataclass
class PreparedSlices:
    """Network inputs and targets of a slice list."""

    x: np.ndarray  # (N, patch, patch) float32
    likelihood: np.ndarray  # (N,) 0-100
    low: np.ndarray  # (N,) 1 low, 0 high, -1 unknown
    truth: np.ndarray  # (N,) 0/1
    patients: np.ndarray  # (N,) str
    maps: np.ndarray | None = None  # (N, patch, patch) enhancement masks on the network grid (0/1)
    has_map: np.ndarray | None = None  # (N,) bool: this slice's mask is known

    @property
    def has_certainty(self) -> bool:
        """True when some slices carry a certainty class (readers' ratings)."""
        return bool((self.low >= 0).any())

    @property
    def has_evidence(self) -> bool:
        """True when some slices carry an enhancement mask (dense evidence supervision)."""
        return self.has_map is not None and bool(self.has_map.any())


def prepare_records(records: Sequence[SliceRecord], settings: LgeTrainSettings) -> PreparedSlices:
    """Resample/normalise every slice as inference does and encode its targets."""
    xs, lik, low, truth, maps = [], [], [], [], []
    pipeline = Preprocessing(settings.prep.pipeline_config())  # what the bundle will store
    for r in records:
        mm = r.pixel_mm or settings.default_pixel_mm
        xs.append(prepare_slice(r.array, (mm, mm), settings.prep, pipeline))
        lik.append(r.likelihood_target(settings.rule))
        c = r.certainty_target(settings.rule)
        low.append(-1 if c is None else c)
        truth.append(r.truth())
        known = r.enhancement is not None and settings.evidence_weight > 0
        maps.append(resample_slice(np.asarray(r.enhancement, np.float32), (mm, mm), settings.prep) >= 0.5
                    if known else None)
    has_map = np.array([m is not None for m in maps])
    blank = np.zeros((settings.prep.patch,) * 2, bool)
    return PreparedSlices(np.stack(xs).astype(np.float32), np.asarray(lik, float), np.asarray(low, int),
                          np.asarray(truth, int), np.asarray([r.patient for r in records]),
                          np.stack([blank if m is None else m for m in maps]).astype(np.float32) if has_map.any()
                          else None, has_map if has_map.any() else None)


def patient_split(patients: Sequence[str], seed: int = 0, fractions: tuple[float, float] = (0.15, 0.15)
                  ) -> np.ndarray:
    """``"train"``/``"val"``/``"test"`` per slice, whole patients to one split (default 70/15/15)."""
    unique = np.array(sorted(set(patients)))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_val = max(1, round(fractions[0] * len(unique)))
    n_test = round(fractions[1] * len(unique))
    split_of = {}
    for rank, idx in enumerate(order):
        split_of[unique[idx]] = "val" if rank < n_val else ("test" if rank < n_val + n_test else "train")
    return np.array([split_of[p] for p in patients])


def _augment(x: Any, gen: Any, maps: Any = None) -> tuple[Any, Any]:
    """Mild batch augmentation: flips, 90-degree turns (the same for ``maps``), per-slice contrast +-10 % and a
    little noise."""
    import torch

    for dim in (3, 2):
        if torch.rand(1, generator=gen).item() < 0.5:
            x = torch.flip(x, dims=[dim])
            maps = None if maps is None else torch.flip(maps, dims=[dim])
    turns = int(torch.randint(0, 4, (1,), generator=gen).item())
    x = torch.rot90(x, turns, dims=[2, 3])
    maps = None if maps is None else torch.rot90(maps, turns, dims=[2, 3])
    b = x.shape[0]
    x = x * torch.empty(b, 1, 1, 1).uniform_(0.9, 1.1, generator=gen)
    return x + 0.02 * torch.randn(x.shape, generator=gen), maps


def build_network(two_heads: bool, dropout: float = 0.2, evidence_map: bool = False) -> Any:
    """The LGE EfficientNetV2 (average + max pooling) with 1 (likelihood) or 2 (likelihood, certainty) outputs,
    optionally with an enhancement evidence map."""
    from radtriage.nets.lge import LgeEfficientNetV2

    return LgeEfficientNetV2(out_channels=2 if two_heads else 1, dropout=dropout, evidence_map=evidence_map,
                             pooling="avgmax")


def predict_logits(network: Any, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """``(N, channels)`` logits in eval mode."""
    import torch

    network.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(network(torch.from_numpy(x[i:i + batch, None])).float().numpy())
    return np.concatenate(out).astype(np.float64)


def _loss(out: Any, lik: Any, low: Any, weight: float) -> Any:
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    loss = bce(out[:, 0], lik / 100.0)
    if out.shape[1] > 1:
        known = low >= 0
        head = bce(out[known, 1], low[known].float()) if known.any() else 0.0 * out[:, 1].sum()
        loss = loss + weight * head
    return loss if torch.isfinite(loss) else loss.detach() * 0


def evidence_loss(evidence: Any, maps: Any, known: Any) -> Any:
    """Class-balanced BCE of evidence-map logits ``(B, 1, h, w)`` against enhancement masks ``(B, 1, H, W)``
    (a cell is positive where any of its pixels is enhanced), over the slices whose mask is ``known``."""
    import torch
    from torch.nn.functional import adaptive_max_pool2d

    from radtriage.nets.losses import balanced_cell_bce

    if not bool(known.any()):
        return 0.0 * evidence.sum()
    loss = balanced_cell_bce(evidence[known], adaptive_max_pool2d(maps[known], evidence.shape[2:]))
    return loss if torch.isfinite(loss) else loss.detach() * 0


def fit_network(data: PreparedSlices, train_idx: np.ndarray, val_idx: np.ndarray, settings: LgeTrainSettings
                ) -> tuple[Any, dict[str, Any]]:
    """Train (AdamW, cosine schedule, early stopping on validation loss); returns the best network and history."""
    import copy

    import torch

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    gen = torch.Generator().manual_seed(settings.seed)
    dense = data.has_evidence and settings.evidence_weight > 0
    network = build_network(data.has_certainty, settings.dropout, evidence_map=dense)
    opt = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, settings.epochs))
    x = torch.from_numpy(data.x[:, None])
    lik = torch.from_numpy(data.likelihood.astype(np.float32))
    low = torch.from_numpy(data.low.astype(np.int64))
    maps = torch.from_numpy(data.maps[:, None]) if dense else None
    known = torch.from_numpy(data.has_map) if dense else None
    best, best_loss, best_epoch, history = None, float("inf"), -1, []
    t0 = time.monotonic()
    for epoch in range(settings.epochs):
        network.train()
        perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        total = 0.0
        for i in range(0, len(perm), settings.batch_size):
            idx = perm[i:i + settings.batch_size]
            if len(idx) < 2:
                continue
            xb, mb = _augment(x[idx], gen, None if maps is None else maps[idx])
            if dense:
                out, evidence = network.forward_with_evidence(xb)
                loss = _loss(out, lik[idx], low[idx], settings.certainty_weight) + settings.evidence_weight * \
                    evidence_loss(evidence, mb, known[idx])
            else:
                loss = _loss(network(xb), lik[idx], low[idx], settings.certainty_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        network.eval()
        with torch.inference_mode():
            vi = torch.from_numpy(val_idx)
            val_loss = float(_loss(network(x[vi]), lik[vi], low[vi], settings.certainty_weight)) if len(vi) else 0.0
        history.append({"epoch": epoch, "train_loss": total / max(1, len(train_idx)), "val_loss": val_loss})
        log.info("epoch %d train %.4f val %.4f", epoch, history[-1]["train_loss"], val_loss)
        if val_loss < best_loss:
            best, best_loss, best_epoch = copy.deepcopy(network.state_dict()), val_loss, epoch
        elif epoch - best_epoch >= settings.patience:
            break
    if best is not None:
        network.load_state_dict(best)
    return network.eval(), {"history": history, "best_epoch": best_epoch, "seconds": time.monotonic() - t0}


def certainty_metrics(low_true: np.ndarray, p_low: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """The seed paper's metrics for the low-certainty class: accuracy, precision, recall, F1, ROC AUC (+ CI)."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    from radtriage.evaluation.classification import roc_auc_with_ci

    y = np.asarray(low_true, int)
    pred = (np.asarray(p_low, float) >= threshold).astype(int)
    out: dict[str, Any] = {
        "n": int(y.size), "n_low": int(y.sum()), "threshold": threshold, "positive_class": "low certainty",
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
    }
    out["roc_auc"] = roc_auc_with_ci(y, p_low, n_bootstrap=1000) if 0 < y.sum() < y.size else None
    return out


def cross_validate(records: Sequence[SliceRecord], settings: LgeTrainSettings, folds: int = 5) -> dict[str, Any]:
    """Patient-level stratified k-fold CV: out-of-fold likelihoods, AUC with a patient-bootstrap CI."""
    from sklearn.model_selection import StratifiedGroupKFold

    from radtriage.evaluation.classification import cluster_bootstrap_auc

    data = prepare_records(records, settings)
    oof = np.full(len(records), np.nan)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
    per_fold = []
    t0 = time.monotonic()
    for f, (rest, test) in enumerate(cv.split(data.x, data.truth, data.patients)):
        inner = patient_split(list(data.patients[rest]), settings.seed + f, (0.15, 0.0))
        train_idx, val_idx = rest[inner == "train"], rest[inner == "val"]
        net, info = fit_network(data, train_idx, val_idx, settings)
        z = predict_logits(net, data.x)
        t = fit_temperature(z[val_idx, 0], data.truth[val_idx]) if 0 < data.truth[val_idx].sum() < len(val_idx) else 1
        oof[test] = likelihood_from_logits(z[test, 0], t)
        per_fold.append({"fold": f, "n_test": int(test.size), "best_epoch": info["best_epoch"],
                         "seconds": info["seconds"], "temperature": float(t)})
        log.info("fold %d done (%.0f s)", f, info["seconds"])
    auc = cluster_bootstrap_auc(data.truth, oof, data.patients)
    pred = oof >= 50.0
    return {"folds": folds, "per_fold": per_fold, "roc_auc": auc,
            "accuracy_at_50": float(np.mean(pred == data.truth.astype(bool))),
            "seconds": time.monotonic() - t0, "oof_likelihood": oof.tolist(), "truth": data.truth.tolist(),
            "patients": data.patients.tolist(), "settings": settings.to_dict()}


def train_lge_bundle(
    records: Sequence[SliceRecord],
    out_dir: str | Path,
    settings: LgeTrainSettings,
    *,
    name: str,
    version: str,
    description: str,
    demo: bool,
    licence: str | None = None,
    data_note: str = "",
    split: np.ndarray | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train on a patient split (70/15/15 unless ``split`` is given) and write the bundle; returns (folder, report).

    The report has the test likelihood AUC (patient-bootstrap CI) and, with a certainty head, the seed's
    certainty-class metrics on the test slices.
    """
    from radtriage.evaluation.classification import cluster_bootstrap_auc
    from radtriage.models.bundle import default_metadata
    from radtriage.models.writer import write_bundle

    data = prepare_records(records, settings)
    split = patient_split(list(data.patients), settings.seed) if split is None else np.asarray(split)
    idx = {s: np.flatnonzero(split == s) for s in ("train", "val", "test")}
    net, info = fit_network(data, idx["train"], idx["val"], settings)
    z = predict_logits(net, data.x)
    yv = data.truth[idx["val"]]
    temperature = fit_temperature(z[idx["val"], 0], yv) if 0 < yv.sum() < yv.size else 1.0
    report: dict[str, Any] = {"training": info, "n": {s: int(v.size) for s, v in idx.items()},
                              "temperature": temperature, "settings": settings.to_dict()}
    t = idx["test"]
    if t.size and 0 < data.truth[t].sum() < t.size:
        lik = likelihood_from_logits(z[t, 0], temperature)
        report["test_likelihood_auc"] = cluster_bootstrap_auc(data.truth[t], lik, data.patients[t])
    two = data.has_certainty
    if two and t.size:
        known = t[data.low[t] >= 0]
        report["test_certainty"] = certainty_metrics(data.low[known], likelihood_from_logits(z[known, 1]) / 100.0)
    outputs: dict[str, Any] = {
        "kind": "score", "activation": "sigmoid", "channels": 2 if two else 1, "scale": 100.0, "positive_at": 50.0,
        "calibration": {"method": "temperature scaling", "temperature": temperature, "fitted_on": "validation split"},
        "likelihood": "100 * sigmoid(logit / temperature)",
    }
    if two:
        outputs["certainty_head"] = {"channel": 1, "threshold": 0.5, "positive": "low certainty",
                                     "rule": settings.rule.to_dict(), "trained_on": "readers' 0-100 ratings"}
    meta = default_metadata(
        name, "lge_certainty", version=version, description=description,
        class_names=["lge", "low_certainty"] if two else ["lge"],
        inputs={"contrasts": ["LGE"], "modality": "MR", "spacing": [settings.prep.pixel_mm] * 2,
                "patch_size": [settings.prep.patch] * 2},
        demo=demo, outputs=outputs, thresholds={"lge": {"balanced": 50.0}},
        certainty_band=[settings.rule.lo, settings.rule.hi],
        changelog={version: f"trained with radtriage.tasks.lge_certainty.train (best epoch {info['best_epoch']})"},
    )
    rt = meta["radtriage"]
    rt["certainty_rule"] = ("certainty head (low when p >= 0.5), trained with: " + settings.rule.to_dict()["rule"]
                            if two else "low certainty when lo <= likelihood <= hi (edges inclusive)")
    rt["training"] = {"data": data_note, "n": report["n"], "best_epoch": info["best_epoch"]}
    if licence:
        rt["data_licence"] = licence
        meta["copyright"] += f"; weights derived from data under {licence}"
    folder = Path(out_dir) / f"{name}-{version}"
    network_def = {"_target_": NETWORK, "in_channels": 1, "out_channels": 2 if two else 1, "spatial_dims": 2,
                   "dropout": settings.dropout, "evidence_map": net.evidence is not None,
                   "pooling": net.pooling}
    write_bundle(folder, net, meta, network_def, model_card_text=model_card_text(meta, report, licence, data_note),
                 extra_config={"preprocessing": settings.prep.pipeline_config()}, overwrite=True)
    return folder, report


def _fmt_auc(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "n/a"
    lo, hi = entry.get("ci") or (entry.get("ci_low"), entry.get("ci_high"))  # patient bootstrap / classification
    if lo is None or hi is None:
        return f"{entry['value']:.3f}"
    return f"{entry['value']:.3f} (95% CI {lo:.3f}-{hi:.3f})"


def model_card_text(meta: dict[str, Any], report: dict[str, Any], licence: str | None, data_note: str) -> str:
    """A markdown model card with the data, licence and test numbers."""
    rt = meta["radtriage"]
    lines = [f"# {meta['name']} {meta['version']}", "", meta["description"], ""]
    if rt.get("demo"):
        lines += ["> **Demo, not for clinical use.**", ""]
    lines += ["## Data", "", data_note or "(not given)", ""]
    if licence:
        lines += [f"**Licence of the training data: {licence}.** These weights are derived from it; "
                  "keep them outside radtriage/bundles/ and respect its terms (non-commercial research).", ""]
    lines += ["## Outputs", "", f"- likelihood 0-100 (channel 0, temperature {report['temperature']:.3f})"]
    head = rt["outputs"].get("certainty_head")
    if head:
        lines.append(f"- certainty head (channel 1): low certainty when p >= {head['threshold']}; "
                     f"trained from readers' ratings with: {head['rule']['rule']} "
                     f"(lo {head['rule']['lo']}, hi {head['rule']['hi']}, "
                     f"max_disagreement {head['rule']['max_disagreement']})")
    else:
        lines.append(f"- certainty from the likelihood band {rt.get('certainty_band')} (no certainty head)")
    lines += ["", "## Test split (by patient)", "",
              f"- slices train/val/test: {report['n']['train']}/{report['n']['val']}/{report['n']['test']}",
              f"- likelihood ROC AUC vs truth: {_fmt_auc(report.get('test_likelihood_auc'))}"]
    cert = report.get("test_certainty")
    if cert:
        seed = SEED_PAPERS["zaman2024-internal"].metrics
        lines.append(f"- certainty class (low = positive): accuracy {cert['accuracy']:.3f}, precision "
                     f"{cert['precision']:.3f}, recall {cert['recall']:.3f}, F1 {cert['f1']:.3f}, ROC AUC "
                     f"{_fmt_auc(cert['roc_auc'])} (seed paper, internal test: "
                     + " / ".join(f"{seed[k]:.2f}" for k in ("accuracy", "precision", "recall", "f1", "roc_auc"))
                     + ")")
    lines += ["", f"Training: {report['training']['seconds']:.0f} s, best epoch {report['training']['best_epoch']}.",
              ""]
    return "\n".join(lines)


def evaluate_bundle_on_slices(bundle: str | Path | None, records: Sequence[SliceRecord], pixel_mm: float = 1.5,
                              n_bootstrap: int = 2000) -> dict[str, Any]:
    """Score every slice with a bundle: likelihood AUC vs truth (patient-bootstrap CI), accuracy at 50, flags."""
    from radtriage.evaluation.classification import cluster_bootstrap_auc
    from radtriage.tasks.lge_certainty.scoring import LgeSliceScorer

    scorer = LgeSliceScorer.from_bundle(bundle, "cpu")
    lik, low = [], []
    for r in records:
        mm = r.pixel_mm or pixel_mm
        score = scorer.score_slice(r.array, (mm, mm))
        lik.append(score.call.likelihood)
        low.append(score.call.flag)
    truth = np.asarray([r.truth() for r in records], int)
    patients = np.asarray([r.patient for r in records])
    lik_arr = np.asarray(lik, float)
    return {"bundle": scorer.bundle_info, "certainty_source": scorer.certainty_source, "pixel_mm": pixel_mm,
            "roc_auc": cluster_bootstrap_auc(truth, lik_arr, patients, n_bootstrap=n_bootstrap),
            "accuracy_at_50": float(np.mean((lik_arr >= 50) == truth.astype(bool))),
            "fraction_low_certainty": float(np.mean(low)), "n": len(records)}
