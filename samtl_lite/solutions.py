"""Model answers to every exercise of every notebook, for instructors (taught in every notebook's exercises).

`samtl_lite.exercises.solution("04.1")` prints one of them; no notebook imports this module, so a student meets
the answers only by asking for them. `SOLUTIONS` maps each key "NN.k" (notebook NN, exercise k as numbered under
its "## Exercises") to the exercise's title, the model answer in words and, for an exercise that asks for a
function, a reference function that passes its checker. Answers that quote a number compute it when printed
(a few seconds at most, no training); numbers that only a student's run can give are described, not typed in.
`tests/test_exercises.py` keeps the keys, titles and key phrases in step with the notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

NOTEBOOKS = {"01": "01_defect_data", "02": "02_shared_encoder", "03": "03_heads", "04": "04_joint_loss",
             "05": "05_metrics", "06": "06_training", "07": "07_experiment", "08": "08_explore",
             "09": "09_real_data"}


@dataclass(frozen=True)
class _Answer:
    title: str  # the exercise's bold title in its notebook, without its final period
    words: str | Callable[[], str]  # the model answer; a function computes the numbers it quotes
    needs: tuple[str, ...] = ()  # phrases of the exercise's text (or its code cell) that the answer relies on
    reference: Callable | None = None  # for an exercise that asks for a function
    checker: str | None = None  # the samtl_lite.exercises checker the reference passes


# Reference functions: one per exercise with a checker, named as the notebook names the student's function.


def my_blob(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """Model answer to exercise 01.1: the pixels whose centre (row, col) lies within `radius` of `centre`
    (taught in 01_defect_data)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(ys - centre[0], xs - centre[1]) <= radius


def my_receptive_fields(n_stages: int = 4, kernel: int = 3) -> list[int]:
    """Model answer to exercise 02.1: the receptive field after each stage of two k×k convolutions, the first
    with stride 2 (taught in 02_shared_encoder)."""
    r, j, out = 1, 1, []
    for _ in range(n_stages):
        for stride in (2, 1):
            r, j = r + (kernel - 1) * j, j * stride
        out.append(r)
    return out


def my_topk_score(mask_logits: torch.Tensor, k: int) -> torch.Tensor:
    """Model answer to exercise 03.1: the mean of the `k` largest pixel probabilities of each sample
    (taught in 03_heads)."""
    flat = torch.sigmoid(mask_logits.flatten(1))
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)


def my_tversky(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.5, beta: float = 0.5,
               smooth: float = 1.0) -> torch.Tensor:
    """Model answer to exercise 04.1: the Tversky loss per sample, averaged over the batch
    (taught in 04_joint_loss)."""
    p, t = torch.sigmoid(logits).flatten(1), target.flatten(1)
    tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


def my_seg_recall_overlap(inter: np.ndarray, n_pred: np.ndarray, n_gt: np.ndarray, min_area: int = 1) -> float:
    """Model answer to exercise 05.1: the share of defective samples whose mask has at least `min_area` pixels
    and touches the true defect; NaN without a defective sample (taught in 05_metrics)."""
    inter, n_pred, n_gt = np.asarray(inter), np.asarray(n_pred), np.asarray(n_gt)
    defective = n_gt > 0
    if not defective.any():
        return float("nan")
    return float(((n_pred >= min_area) & (inter > 0))[defective].mean())


def my_same_weights(state_a: dict[str, torch.Tensor], state_b: dict[str, torch.Tensor]) -> bool:
    """Model answer to exercise 06.2: the same keys and every tensor equal bit for bit
    (taught in 06_training)."""
    return state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def my_sign_agreement(summary: dict, metric: str) -> float:
    """Model answer to exercise 07.2: the share of seeds on which `mtl` is strictly above `seg-only`
    (taught in 07_experiment)."""
    mtl = np.asarray(summary["mtl"][metric]["values"], dtype=float)
    seg = np.asarray(summary["seg-only"][metric]["values"], dtype=float)
    return float(np.mean(mtl > seg))


def my_threshold_for_recall(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Model answer to exercise 08.1: the highest score threshold (decisions: score >= threshold) whose recall
    of the defective samples reaches `target` (taught in 08_explore)."""
    positives = np.sort(np.asarray(scores, dtype=float)[np.asarray(labels) > 0.5])[::-1]
    caught = np.arange(1, len(positives) + 1) / len(positives)  # at threshold positives[i], at least i + 1 caught
    return float(positives[np.flatnonzero(caught >= target - 1e-9)[0]])


def my_empty_defect_masks(dataset) -> list[str]:
    """Model answer to exercise 09.3: the sorted file stems of images filed under a defect class whose mask is
    empty, so their label is 0 (taught in 09_real_data)."""
    return sorted(s.image.stem for s, y in zip(dataset.samples, dataset.labels)
                  if s.defect_class != "Free" and y == 0)


# Answers that compute what they quote.


def _blob_radius() -> str:
    target = 0.001 * 128 ** 2
    steps = []
    for where, centre in (("on a pixel centre", (64.0, 64.0)), ("on a pixel corner", (63.5, 63.5))):
        radii = np.unique(np.round(np.hypot(*np.mgrid[-6:7, -6:7] + (centre[0] % 1)), 6))
        counts = [(float(r), int(my_blob((128, 128), centre, r + 1e-6).sum())) for r in radii if r < 4]
        below = max((c for c in counts if c[1] <= target), key=lambda c: c[1])
        above = min((c for c in counts if c[1] >= target), key=lambda c: c[1])
        steps.append(f"centred {where}, a pit covers {below[1]} px from radius {below[0]:.2f} and "
                     f"{above[1]} px from radius {above[0]:.2f}")
    return f"""
    A pit is the set of pixels whose centre (row, col) lies within `radius` of `centre`: the distance field of
    section 1 for a single point, `np.hypot(ys - cy, xs - cx) <= radius` on an `np.mgrid` of the shape. Drawn on
    noise as in section 1, it is `draw_scratch` with this distance field, or simply `noise - contrast·σ·mask`.

    0.1% of a 128² image is {target:.3f} pixels, so πr² = {target:.3f} gives r = {math.sqrt(target / math.pi):.2f} px.
    On the pixel grid the area moves in steps: {steps[0]}; {steps[1]}. So no radius gives exactly 0.1%: a good
    answer gives the continuous radius and says which grid count it chose.
    """


def _fifth_stage() -> str:
    from samtl_lite.models import TinyEncoder

    encoder = TinyEncoder(channels=(16, 32, 64, 128, 256)).eval()
    with torch.no_grad():
        shapes = [tuple(f.shape) for f in encoder(torch.rand(1, 1, 100, 100))]
    padded = -(-100 // encoder.strides[-1]) * encoder.strides[-1]
    return f"""
    With channels (16, 32, 64, 128, 256), a 100×100 input (batch 1) gives {", ".join(map(str, shapes))}: each
    stride-2 convolution (3×3, padding 1) maps n pixels to ceil(n/2), so odd sizes round up.

    Rounding breaks the factor 2 between neighbouring stages: upsampling {shapes[-1][-1]} by 2 gives
    {2 * shapes[-1][-1]}, not {shapes[-2][-1]}, so a decoder's upsampled map no longer lies on its skip's grid and a
    deep feature pixel no longer sits over the input cell it summarises. `MultiTaskNet` therefore pads the input
    (repeating the edge pixels) to a multiple of the encoder's total stride, {encoder.strides[-1]} with five stages
    ({padded}×{padded} here), so every stage halves exactly, and crops the mask back to the input's size.
    """


def _head_reads_mask() -> str:
    from samtl_lite.models import ClsHead, build_model

    plain, reading = (sum(p.numel() for p in ClsHead(128, use_mask=m).parameters()) for m in (False, True))
    try:
        build_model("cls-only", encoder="tiny", use_mask=True)(torch.rand(1, 1, 32, 32))
        refused = "it ran (unexpected: the library has changed)"
    except ValueError as err:
        refused = f"its first forward pass stops with ValueError: {err}"
    return f"""
    `ClsHead(128, use_mask=True)` also pools the mask logits, with a mean and a max, so its MLP's first layer reads
    two more inputs: it adds {reading - plain} parameters (2 × hidden), {plain:,} without and {reading:,} with.

    A `cls-only` model has no decoder, so there are no mask logits to pool: {refused}. With the mask read, the
    head's decision also rests on the decoder's output, not only on the encoder's features.
    """


def _ablation() -> str:
    from samtl_lite.models import build_model

    torch.manual_seed(0)
    x, y = torch.rand(2, 1, 64, 64), torch.tensor([1.0, 0.0])
    reached = {}
    for detach in (True, False):
        model = build_model("mtl", encoder="deeplabv3_mobilenet_v3_large", detach_input=detach).eval()
        params = list(model.seg_model.backbone.parameters())
        loss = F.binary_cross_entropy_with_logits(model(x).cls_logits, y)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        reached[detach] = (sum(g is not None and bool(g.abs().sum() > 0) for g in grads), len(params))
    return f"""
    With `detach_input=True` the head reads the backbone's deepest features through `.detach()`, so the
    classification loss's gradient stops at the head: take `F.binary_cross_entropy_with_logits(out.cls_logits,
    label)` and check that no backbone parameter receives a gradient from it (computed now, on an untrained model
    in eval mode: {reached[True][0]} of {reached[True][1]} backbone tensors get a non-zero gradient with
    `detach_input=True`, {reached[False][0]} of {reached[False][1]} without). The head itself still learns, and the
    mask loss still trains the backbone.

    In notebook 07 this is `mtl-detached`: it asks whether `mtl` differs from `seg-only` because the head's gradient
    shapes the shared encoder, or merely because there is a head to decide. If `mtl-detached` does as well as
    `mtl`, the gradient is not what helps.
    """


def _tversky_is_dice() -> str:
    from samtl_lite import losses

    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(4, 1, 16, 16, generator=g)
    t = (torch.rand(4, 1, 16, 16, generator=g) > 0.9).float()
    gap = max(float((my_tversky(z, t, 0.5, 0.5, s / 2) - losses.soft_dice(z, t, smooth=s)).abs()) for s in (1.0, 0.1))
    return f"""
    Per sample: p = sigmoid(logits), TP = Σ p·t, FP = Σ p·(1 − t), FN = Σ (1 − p)·t, loss 1 − (TP + s) /
    (TP + α·FP + β·FN + s), then the mean over samples (a clean sample still pays for its false positives).

    With α = β = 0.5 the denominator is TP + (FP + FN)/2 + s = (Σp + Σt)/2 + s; multiplying numerator and
    denominator by 2 gives (2·TP + 2s) / (Σp + Σt + 2s), Dice with smoothing 2s. So Tversky with s/2 is
    `soft_dice` with s (computed now for s = 1 and 0.1: largest difference {gap:.1e}).

    To make missed defect pixels cost more, weigh the false negatives more: β > α, e.g. α = 0.3, β = 0.7 (keeping
    α + β = 1 keeps the loss on Dice's scale).
    """


def _skip_empty_in_a_batch() -> str:
    from samtl_lite import losses
    from samtl_lite.data import SyntheticDefects

    def skip_empty(logits, target):  # notebook 04's `skip_empty_dice`
        p, t = torch.sigmoid(logits).flatten(1), target.flatten(1)
        keep = t.sum(1) > 0
        return float((1 - 2 * (p * t).sum(1)[keep] / (p.sum(1) + t.sum(1))[keep]).mean()) if keep.any() else 0.0

    rows = []
    for k in range(8):
        target = torch.zeros(k + 1, 1, 64, 64)
        target[0, :, 40:44, 40:50] = 1.0
        logits = torch.full((k + 1, 1, 64, 64), -12.0)
        logits[0][target[0] > 0] = 12.0
        logits[1:, :, 20:36, 20:36] = 6.0
        rows.append((skip_empty(logits, target), float(losses.soft_dice(logits, target))))
    masks = torch.stack([SyntheticDefects(n=64, size=128, seed=3, defect_rate=0.5)[i]["mask"] for i in range(8)])
    halfway = torch.where(masks > 0, 0.0, -4.0) + 0.5 * torch.randn(masks.shape, generator=torch.Generator()
                                                                     .manual_seed(0))
    balanced = float((1 - masks).sum() / masks.sum())

    def share(logits, pw):
        per_pixel = F.binary_cross_entropy_with_logits(logits, masks, reduction="none",
                                                       pos_weight=None if pw is None else torch.tensor(pw))
        return float(per_pixel[masks > 0].sum() / per_pixel.sum())

    weights = (None, 10.0, balanced)
    start = ", ".join(f"{share(torch.zeros_like(masks), pw):.2%}" for pw in weights)
    mid = ", ".join(f"{share(halfway, pw):.1%}" for pw in weights)
    return f"""
    One defective sample predicted right and k clean samples with a painted blob: skip-empty Dice only looks at the
    defective sample, so it stays at {rows[0][0]:.3f} for every k (computed now, k = 0 to 7: {", ".join(f"{a:.3f}" for
    a, _ in rows)}), while our soft Dice averages over all k + 1 samples and climbs like k/(k + 1)
    ({", ".join(f"{b:.3f}" for _, b in rows)}): the more clean samples a batch holds, the more of its loss the trap
    hides.

    `pos_weight` multiplies the defect pixels' BCE terms: at the start of training (every logit 0) every pixel
    costs log 2, so the defect pixels' share is pw·n_defect / (pw·n_defect + n_clean), one half at
    pw = n_clean/n_defect. On the halfway logits the background is already cheap, so the share starts much higher
    and pos_weight pushes it towards 1 (computed now on the notebook's first batch, the first 8 samples of
    SyntheticDefects(n=64, size=128, seed=3, defect_rate=0.5), for no pos_weight, 10 and
    n_clean/n_defect = {balanced:.0f}: {start} at the start, {mid} halfway, with its own draw of the halfway noise
    from torch seed 0, so those figures differ a little from the notebook's). The same pos_weight thus tilts the
    loss far more once training is under way: a knob to turn with care.
    """


def _balancing() -> str:
    from samtl_lite.data import SyntheticDefects
    from samtl_lite.losses import JointLoss
    from samtl_lite.models import build_model

    data = SyntheticDefects(n=64, size=128, seed=3, defect_rate=0.5)
    batch = [data[i] for i in range(8)]
    images, masks = torch.stack([b["image"] for b in batch]), torch.stack([b["mask"] for b in batch])
    labels = torch.tensor([b["label"] for b in batch])
    torch.manual_seed(0)
    model = build_model("mtl", encoder="tiny").train()
    params = list(model.encoder.parameters())

    def norm(loss):
        return float(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]).norm())

    g_cls = norm(JointLoss().cls_loss(model(images).cls_logits, labels))
    rows = []
    for seg in ("bce", "bce+dice", "focal"):
        g_seg = norm(JointLoss(seg=seg).seg_loss(model(images).mask_logits, masks))
        rows.append(f"{seg}: |g_cls|/|g_seg| {g_cls / g_seg:.0f}, w_cls {0.5 * g_seg / g_cls:.4f}, "
                    f"δ {g_seg / g_cls:.4f}")
    return f"""
    The loss is linear in the weights, so the encoder's gradient is w_seg·g_seg + w_cls·g_cls (section 6) and the
    two terms push equally hard when w_cls·|g_cls| = 0.5·|g_seg|: w_cls = 0.5·|g_seg|/|g_cls|, that is 0.5 divided
    by the ratio section 6 prints. At mid-training the dynamic schedule gives w_seg = 1/2 and w_cls = δ/2, so a
    50% share needs δ = |g_seg|/|g_cls|, the reciprocal of that ratio.

    Both answers are proportional to |g_seg|, so they move with the mask loss exactly as far as g_seg does;
    computed now with an untrained tiny mtl model (torch seed 0, training mode) on the first 8 samples of
    SyntheticDefects(n=64, size=128, seed=3, defect_rate=0.5), as section 6 sets up: {"; ".join(rows)}. These are
    gradients at initialisation: as training goes on, easy samples' sample loss falls fast and both norms move, so
    a balance set at the start does not hold.
    """


def _more_seeds() -> str:
    def resamples(n: int) -> int:
        return math.comb(2 * n - 1, n)

    return f"""
    `my_sign_agreement` is the share of paired seeds on which mtl's value is strictly above seg-only's (a tie is
    not a win). With five seeds, read the sign of each `paired_differences(summary, "mtl", "seg-only", "ap")` and
    `bootstrap_interval` of them.

    With n seeds the bootstrap has {resamples(3)} distinct resamples (as multisets) for n = 3 but {resamples(5)} for
    n = 5, and drawing one seed n times has probability n^-n: {3 ** -3:.1%} for three seeds (above 2.5%, which is why
    their interval equals the range), {5 ** -5:.3%} for five (below it), so with five seeds the 95% interval lies
    inside the range of the differences, unless they tie. Five signs all in one given direction by chance, when
    the variants are equal, has probability {0.5 ** 5:.3f} (three: {0.5 ** 3:.3f}): five agreeing seeds start to mean
    something that three could not, while a sign that flips between seeds says the difference is within the
    seed-to-seed spread.
    """


def _a(title, words, needs=(), reference=None):
    checker = None
    if reference is not None:
        checker = {my_blob: "check_blob", my_receptive_fields: "check_receptive_fields",
                   my_topk_score: "check_topk_score", my_tversky: "check_tversky",
                   my_seg_recall_overlap: "check_seg_recall_overlap", my_same_weights: "check_same_weights",
                   my_sign_agreement: "check_sign_agreement", my_threshold_for_recall: "check_threshold_for_recall",
                   my_empty_defect_masks: "check_empty_defect_masks"}[reference]
    return _Answer(title, words, tuple(needs), reference, checker)


SOLUTIONS: dict[str, _Answer] = {
    "01.1": _a("A new defect type", _blob_radius, ("my_blob(shape, centre, radius)", "0.1%"), my_blob),
    "01.2": _a("Size changes the numbers", """
        `SyntheticDefects` draws widths in pixels (scratches 1-3 px, cracks, pits of a few pixels), while the
        length of a scratch or crack is a share of the image's side and a stain's radius is too. So at a larger
        size a scratch of the same relative length covers a smaller share of the image (its area grows with the
        side, the image's with the side squared), a pit a smaller share still, and a stain the same share:
        `dataset_summary` prints a defect-pixel fraction and a median defect area that fall from size=64 to
        size=256, and a larger share of defects below 0.1% of the image.

        A pixel loss is a mean over pixels, so the defect pixels' share of it falls with them: at higher resolution
        each thin defect's voice is fainter, the imbalance gets worse, and a per-sample term (the sample head,
        Dice) matters more. At lower resolution the same defects are a larger share, but thin ones come closer to
        vanishing when real images are resized (section 4).
        """, ("dataset_summary", "size=64", "size=256")),
    "01.3": _a("Balanced batches", """
        `DataLoader(ds, batch_size=..., sampler=balanced_sampler(ds.labels))` and `batch["label"].mean()` per batch:
        over one epoch the share of defective samples per batch averages about one half (the sampler's
        `pos_fraction`), against the dataset's own share (about a quarter), and it varies from batch to batch
        because each draw is random.

        The sampler gives each defective sample the weight pos_fraction/n_defective and each clean one
        (1 − pos_fraction)/n_clean, and draws as many samples as the dataset holds. With fewer defective samples
        than half the draws, those draws can only be filled by drawing defective samples again: with replacement,
        each defective sample appears more than once per epoch on average and some clean ones not at all. Without
        replacement the defective samples would run out after the first few batches and the rest of the epoch
        would be clean.
        """, ("balanced_sampler", "with replacement")),
    "02.1": _a("Receptive field by hand", lambda: f"""
        Walk the layers with r (the field) and j (the jump): each k×k convolution adds (k − 1)·j, and the stride-2
        one doubles j after it. With 3×3 convolutions the four stages give {my_receptive_fields(4, 3)}, so stage 3
        sees {my_receptive_fields(4, 3)[2]} px, as the gradient check of section 3 confirms.

        With a `kernel` argument, (k − 1)·j replaces 2·j; with 5×5 convolutions the stages give
        {my_receptive_fields(4, 5)}, so stage 4 sees {my_receptive_fields(4, 5)[3]} px. Since r − 1 is (k − 1)
        times the sum of the jumps, going from 3×3 to 5×5 doubles r − 1; the deep stages, where the jump is large,
        contribute most of the field.
        """, ("stage 3", "5×5"), my_receptive_fields),
    "02.2": _a("A fifth stage", _fifth_stage, ("fifth stage", "100×100", "pad")),
    "02.3": _a("Pooling instead of striding", """
        The defect share at stride 16 is the true mask averaged over each 16×16 cell (section 4): a property of the
        mask and the stride, so the printed medians are the same whichever layer halves the resolution.

        What changes is what the features keep. A stride-2 convolution evaluates its kernel at every other
        position, so a 1-pixel scratch on an odd row or column is seen by the kernel's edge taps only, and how
        strongly it comes through depends on where it lies. A 2×2 max-pool keeps the largest value of each cell
        wherever it lies in the cell: on the ReLU features of a later stage a thin, strong response survives each
        halving at full strength (a strong noise speck too). In the first stage, though, the pool reads the image
        itself and keeps each cell's brightest pixel, so a dark 1-pixel scratch can vanish before any convolution
        has seen it.
        """, ("max-pool", "stride 16")),
    "03.1": _a("Top-k score", """
        The sigmoid of the mask logits, flattened per sample, its k largest values (`topk(k, dim=1)`), averaged:
        it equals `sample_scores(out, "topk", k)`, which also caps k at the number of pixels. With k = 1 it is the
        seg-only model's max score.

        As k grows, one noisy pixel moves the score by only 1/k of its probability, so isolated false pixels fool
        it less. The price: a defect smaller than k pixels is averaged with background pixels, so the smallest
        defects, the ones the method cares about most, score lower. k should stay near the smallest defect's area.
        """, ("my_topk_score(mask_logits, k)", "sample_scores"), my_topk_score),
    "03.2": _a("A head that reads the mask", _head_reads_mask, ("use_mask=True", "cls-only")),
    "03.3": _a("The ablation", _ablation, ("detach_input=True", "notebook 07")),
    "04.1": _a("Tversky loss", _tversky_is_dice, ("my_tversky", "s/2", "soft_dice"), my_tversky),
    "04.2": _a("The skip-empty trap in a batch", _skip_empty_in_a_batch, ("skip_empty_dice", "pos_weight", "halfway")),
    "04.3": _a("Balancing the gradients", _balancing, ("w_{cls}", r"\delta", "bce+dice", "focal")),
    "05.1": _a("Recall that needs overlap", """
        Among the defective samples (n_gt > 0), the share with n_pred ≥ min_area and inter > 0; NaN when there is no
        defective sample. Comparing with `seg_recall`, the samples that change are defective samples whose mask
        has enough pixels but none on the true defect: `((n_pred >= min_area) & (inter == 0) & (n_gt > 0))`.

        The plain version asks only whether the mask fired, not where: a pure noise blob of at least min_area
        pixels on a defective sample declares it defective, so it counts as found although the defect itself was
        missed. The part is still rejected (the right decision for the wrong reason), but the mask points the
        operator at the wrong place, and a model that fires at random on defective samples looks better than it
        is.
        """, ("my_seg_recall_overlap", "NaN"), my_seg_recall_overlap),
    "05.2": _a("Recall at 1 % FPR by hand", """
        Sort the clean samples' scores from high to low. At most floor(0.01·n_clean) of them may be flagged, so the
        threshold must lie just above the first clean score that is not allowed (the (allowed + 1)-th highest);
        recall is the share of defective scores at or above it. This is `metrics.recall_at_fpr`, whose
        `threshold_at_fpr` takes the next float above that clean score.

        Ties: clean samples tied with that score cannot be separated from it, so all of them fall below the
        threshold, the false-alarm rate actually used can be below 1%, and a defective sample with the same score
        is lost too. With fewer than 100 clean samples floor(0.01·n_clean) is 0: no false alarm is allowed at all,
        the threshold lies above the highest clean score, and "recall at 1%" is recall at 0% FPR; the rate can
        only move in steps of 1/n_clean, so a small clean set cannot measure a 1% budget.
        """, ("recall_at_fpr", "ties", "fewer than 100")),
    "05.3": _a("AP against pooled mIoU", """
        A score of 1 for a non-empty mask (plus a little noise) ranks every sample the mask fires on above every
        sample it does not. "Sloppy edges" fires on every defective sample and on no clean one, so the ranking
        separates the classes and AP is 1; "misses small" leaves the smaller half of the defective samples with
        empty masks, scoring like the clean samples, so they are ranked among them and AP falls well below 1.

        Pooled mIoU ranks them the other way (section 4b's table): the missed small defects hold few pixels, while
        one pixel too wide round every defect, thin scratches above all, adds many false-positive pixels. AP counts
        parts and pooled mIoU counts pixels; a metric tied to decisions prefers the model that ships no defective
        part.
        """, ("AP", "pooled mIoU", "sloppy edges")),
    "06.1": _a("Clip it", """
        Between `parts.total.backward()` and `opt.step()` call `norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(), 1.0)`: it returns the total gradient norm before clipping and rescales the gradients
        only when that norm exceeds 1.0.

        Print `norm` for the first steps and count the steps whose norm is above 1.0: that share of steps is how
        often clipping acts, read off the student's own run (it depends on the model, the data and the learning
        rate). `fit` clips the same way at `TrainConfig.grad_clip`, 1.0 by default.
        """, ("clip_grad_norm_", "1.0")),
    "06.2": _a("Bit for bit", """
        `my_same_weights` compares the keys and every tensor with `torch.equal` (not `allclose`: bit for bit means
        exact); compare `load_checkpoint(folder / "last.pt")["model"]` of the two runs. On a CPU two runs of `fit`
        with the same config and seed are equal, because `seed_everything` seeds the initial weights and every
        epoch reseeds shuffling, augmentation and dropout from (seed, epoch).

        One change that breaks it: draw the batches or the augmentation from a generator that is not reseeded
        (a DataLoader with `shuffle=True` and no generator, worker processes with unseeded random state), or give
        the second run another seed. On a GPU, non-deterministic kernels break exact equality even with every seed
        fixed.
        """, ("torch.equal",), my_same_weights),
    "06.3": _a("Balanced or not", """
        Train the same recipe with `balanced=False` (a plain shuffle: batches hold the data's own defective share)
        and read val AP and the mask-decision F1 (`val_seg_f1`) of both runs at their kept epochs; one seed each,
        so a small difference may be noise (notebook 07). AP is free of thresholds, and each run's thresholds are
        chosen on validation, so the comparison is of rankings and decisions, not of calibration.

        The head's loss is one BCE term per sample: the batches' class mix sets how often it sees a defective
        sample and where its bias settles, and with a plain shuffle some batches hold few or none. The mask's loss
        is per pixel (BCE) and per sample (Dice), and defect pixels stay a tiny minority of every batch whatever the
        mix of samples, so balancing the samples changes its balance far less.
        """, ("balanced=False",)),
    "06.4": _a("What picks the epoch?", """
        The monitor only chooses which epoch `best.pt` keeps; it changes nothing in training, so on a CPU the two
        runs train the same weights bit for bit, and section 2's table (val AP alone against the joint score)
        already says which epoch each keeps. Evaluating each `best.pt` on test as in section 4 then compares two
        epochs of one run: their `kept_epoch` lines and their test Seg_mIoU.

        Val AP alone can peak early, while the mask decoder is still poor; the joint score averages AP, the
        mask-decision F1 and Seg_mIoU, so it keeps an epoch that serves the mask too, and on validation it has the
        better mean of the three by construction. Whether it also has the better test Seg_mIoU is what the run
        shows; when both rules keep the same epoch the run cannot tell them apart (another seed may), and one seed
        shows one case, not a rule.
        """, ('monitor="ap"', "kept_epoch")),
    "07.1": _a("Is it the gradient?", """
        The record has one seed of `mtl-detached`, so the fair comparison is paired: its value against `mtl`'s on
        the same seed (`values[0]`: same initialisation and data order), metric by metric and dataset by dataset,
        with the range of mtl's seeds as the yardstick for how far one seed can move by chance.

        Metrics where the detached model differs from mtl by more than that range, in the same direction on both
        datasets, are candidates for an effect of the head's gradient on the encoder; the others cannot be told
        apart. A sentence the data support has the form "on seed 0, <metric> on <dataset> is lower / higher for
        mtl-detached than for mtl, by more / less than mtl's seed-to-seed range"; what one seed cannot show is
        whether the difference holds on other seeds (no interval, no sign count), so it cannot establish that the
        gradient causes a gain.
        """, ("mtl-detached", "values[0]")),
    "07.2": _a("More seeds", _more_seeds, ("seeds=(0, 1, 2, 3, 4)", "my_sign_agreement"), my_sign_agreement),
    "07.3": _a("Your own variant", """
        `TRAINED` maps a variant to the config fields it sets: add `"mtl-dice": {"model": "mtl", "seg_loss": "dice"}`
        (`TrainConfig.seg_loss`; remove it afterwards, the dict is the library's). `run_experiment` collects its
        results under a fixed list of variant names and stops with a KeyError on a new one, hence the copy that
        adds the name; simpler still, train the variant seed by seed with `run_cell("synthetic", "mtl-dice", seed,
        recipe("synthetic-cpu", **live), out)` (`run_cell` from `samtl_lite.engine.experiment`, `recipe` from
        `samtl_lite.engine`, `live` and `out` as section 1 sets them), which writes beside the live runs.

        Compare Seg_Recall (with seg_fp and Seg_mIoU) of mtl-dice against mtl, seed by seed. Notebook 04 names
        two pressures: Dice alone charges a clean sample for any probability mass summed over all its pixels,
        which pushes masks towards empty (fewer samples declared, Seg_Recall down), and it is a ratio per sample,
        so a tiny defect weighs as much as a large one (small defects found, Seg_Recall up). The run decides which
        wins; call a difference real only if it holds on every seed.
        """, ("mtl-dice", "TRAINED", "Seg_Recall")),
    "08.1": _a("A recall target", """
        Sort the defective samples' scores from high to low: a threshold at the i-th of them catches at least i
        (ties only catch more), so the answer is the score of the first one at which i/n_defective reaches the
        target, and any higher threshold catches fewer.

        Type that threshold into the score slider's readout with all its decimals (a drag moves in steps of 0.001
        and can land just above it, where the target is missed) and read FP, or `explorer.numbers(threshold)["fp"]`
        without the widget: those false alarms are what the 95% target costs on this validation split. The
        model's thresholds were chosen on this very split, so the count is optimistic for new parts; a line sets
        its target on validation and reports the cost on test.
        """, ("my_threshold_for_recall", "95%"), my_threshold_for_recall),
    "08.2": _a("min_area", """
        `min_area` enters only the mask's decisions: a sample is flagged when at least `min_area` pixels reach the
        mask threshold. From 1 to 50, seg_fp can only fall (small specks on clean samples stop counting) and seg_fn
        can only rise (small true defects are no longer declared), and Seg_Recall and Seg_Accuracy move with them.

        Seg_mIoU and the pooled pixel mIoU do not move: in `my_numbers` they are computed from the pixel counts
        |P∩G|, |P| and |G| at the mask threshold, which `min_area` never touches. The head's counts do not move
        either: they depend on the score threshold alone.
        """, ("min_area", "50")),
    "08.3": _a("Another model", """
        With `MODEL = "mt-mtl"` the notebook reads that model's recipe and Magnetic Tile's validation split, and the
        explorer starts at the thresholds the model carries. A good answer goes through the misses gallery (lowest
        scores first) and counts, for each miss, its class, its defect area (`meta["area_fraction"]`) against the
        class's usual area (notebook 09's boxplot) and how faint it looks.

        It then says which of small, faint or one class explains most misses, with the counts, and notes that the
        validation split holds only a handful of defective tiles per class (`Counter` of the classes of
        `val.samples` with label 1 shows how many), so a few misses are weak
        evidence; the test split, not this one, reports the model.
        """, ("mt-mtl",)),
    "09.1": _a("Per-class thresholds?", """
        `thr = threshold_at_fpr(pred.score, pred.label, 0.05)` is the lowest threshold that flags at most 5% of the
        clean tiles; recompute the head's recall per class with `pred.score >= thr` as section 4's table does and
        compare the two tables class by class (the tiles that change are those whose scores lie between the two
        thresholds).

        One threshold per class is not legitimate on a production line: a tile's class is known only after
        inspection (a clean tile has none), so a per-class rule would use the answer to make the decision. Note too
        that a threshold set on the test split is tuned on test: to report it, set it on the validation split
        (`val_split`) and apply it to test.
        """, ("threshold_at_fpr", "5%")),
    "09.2": _a("Resolution", """
        Train the same recipe on more pixels as the exercise says (`samtl train --recipe mt-cpu --size 224 160 --out
        runs/mt224`), point `RUN` at that folder, run the notebook again and compare its per-class table (recall
        and false alarms, of the head and of the mask) with that of `mt-mtl` at 192×128.

        The boxplot says what to look for: Blowhole and Crack, whose defects cover the smallest share of their
        tiles, keep more of a few-pixel defect at a larger input and have the most to gain; Fray and Uneven, whose
        defects cover a large share of the tile, should change little. With one run per size, a change of one or
        two tiles in a class is within the seed-to-seed spread (notebook 07), so a good answer counts tiles, not
        only rates.
        """, ("--size 224 160", "RUN")),
    "09.3": _a("Empty masks in defect classes", """
        The stems of the images filed under any defect class (not `Free`) whose label is 0, sorted; on Magnetic
        Tile they are the four `MT_Uneven` files the note at the top names, and the checker's folder adds a `Crack`
        one, so a rule that looks at `Uneven` alone fails it.

        Should they count as clean? The folder says defective and the mask says clean: whoever sorted the tiles
        judged them defective, and nobody outlined where. Counted as clean in the test split, they turn a model
        that flags them into one with false alarms and reward one that misses them. Better: leave them out of the
        test metrics or report them apart (or count them as defective for the sample decision and leave them out of
        the mask metrics), and say so beside the numbers.
        """, ("my_empty_defect_masks", "clean"), my_empty_defect_masks),
}
