import math

import pytest
import torch

from samtl_lite.losses import JointLoss, bce, distance_weights, focal, soft_dice
from samtl_lite.models import Output, build_model


def direct_bce(z, t, pw=1.0):
    p = torch.sigmoid(z)
    return -(pw * t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()


def test_bce_and_focal_against_direct_formulas():
    torch.manual_seed(0)
    z, t = torch.randn(3, 1, 5, 5), (torch.rand(3, 1, 5, 5) > 0.8).float()
    assert torch.allclose(bce(z, t), direct_bce(z, t), atol=1e-6)
    assert torch.allclose(bce(z, t, pos_weight=7.0), direct_bce(z, t, 7.0), atol=1e-6)
    p = torch.sigmoid(z)
    p_t = torch.where(t > 0, p, 1 - p)
    ce = -torch.log(p_t)
    assert torch.allclose(focal(z, t, gamma=2.0), ((1 - p_t) ** 2 * ce).mean(), atol=1e-6)
    alpha_t = torch.where(t > 0, 0.25, 0.75)
    assert torch.allclose(focal(z, t, gamma=1.5, alpha=0.25), (alpha_t * (1 - p_t) ** 1.5 * ce).mean(), atol=1e-6)
    assert torch.allclose(focal(z, t, gamma=0.0), direct_bce(z, t), atol=1e-6)  # gamma 0 is plain BCE


def test_soft_dice_by_hand_and_clean_samples_still_pay():
    big = 20.0
    target = torch.zeros(2, 1, 2, 2)
    target[0, 0, 0, 0] = 1
    logits = torch.full((2, 1, 2, 2), -big)
    logits[0, 0, 0, 0] = big  # sample 0 perfect
    logits[1, 0, 1, 1] = big  # sample 1 is clean but one pixel is predicted defective
    # sample 0: 1 - (2*1 + 1) / (1 + 1 + 1) = 0; sample 1: 1 - (0 + 1) / (1 + 0 + 1) = 0.5
    assert soft_dice(logits, target).item() == pytest.approx(0.25, abs=1e-6)
    logits[1, 0, 1, 1] = -big
    assert soft_dice(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_distance_weights_by_hand():
    mask = torch.zeros(1, 1, 9, 9)
    mask[0, 0, 2:7, 2:7] = 1  # a 5x5 defect: depths 1 (rim), 2, 3 (centre)
    w = distance_weights(mask, power=2.0)
    assert w[0, 0, 4, 4] == 1.0 and w[0, 0, 3, 3] == pytest.approx((2 / 3) ** 2)
    assert w[0, 0, 2, 2] == pytest.approx((1 / 3) ** 2) and w[0, 0, 0, 0] == 1.0
    thin = torch.zeros(1, 1, 5, 5)
    thin[0, 0, 2, :] = 1  # a 1-px scratch: every pixel is rim and centre at once
    assert torch.equal(distance_weights(thin), torch.ones(1, 1, 5, 5))


def test_joint_loss_total_and_gradients_carry_the_weights():
    torch.manual_seed(0)
    mask_logits = torch.randn(4, 1, 6, 6, requires_grad=True)
    cls_logits = torch.randn(4, requires_grad=True)
    mask, label = (torch.rand(4, 1, 6, 6) > 0.9).float(), torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = JointLoss(w_seg=0.3, w_cls=0.7)
    parts = loss(Output(mask_logits, cls_logits), mask, label)
    assert torch.allclose(parts.total, 0.3 * direct_bce(mask_logits, mask) + 0.7 * direct_bce(cls_logits, label))
    parts.total.backward()
    # d/dz of mean BCE is (sigmoid(z) - t) / n, times the term's weight
    assert torch.allclose(cls_logits.grad, 0.7 * (torch.sigmoid(cls_logits) - label) / 4, atol=1e-6)
    assert torch.allclose(mask_logits.grad, 0.3 * (torch.sigmoid(mask_logits) - mask) / mask.numel(), atol=1e-7)


def test_gradients_reach_both_heads_of_a_model_unless_weighted_out():
    torch.manual_seed(0)
    model = build_model("mtl")
    x, mask, label = torch.rand(2, 1, 32, 32), torch.zeros(2, 1, 32, 32), torch.tensor([1.0, 0.0])
    mask[0, 0, 10, 10:20] = 1
    for w_seg, w_cls, head_moves, decoder_moves in ((0.5, 0.5, True, True), (0.5, 0.0, False, True),
                                                    (0.0, 0.5, True, False)):
        model.zero_grad()
        JointLoss(w_seg=w_seg, w_cls=w_cls)(model(x), mask, label).total.backward()
        head = sum(float(p.grad.abs().sum()) for p in model.cls_head.parameters())
        dec = sum(float(p.grad.abs().sum()) for p in model.decoder.parameters())
        assert (head > 0) == head_moves and (dec > 0) == decoder_moves


def test_variants_and_missing_outputs():
    mask, label = torch.zeros(2, 1, 4, 4), torch.zeros(2)
    seg_only = Output(torch.zeros(2, 1, 4, 4), None)
    parts = JointLoss.for_variant("seg-only")(seg_only, mask, label)
    assert parts.cls == 0 and parts.total == pytest.approx(0.5 * direct_bce(torch.zeros(1), torch.zeros(1)))
    with pytest.raises(ValueError, match="no classification output"):
        JointLoss.for_variant("mtl")(seg_only, mask, label)
    cls_only = Output(None, torch.zeros(2))
    assert JointLoss.for_variant("cls-only")(cls_only, mask, label).seg == 0


def test_seg_loss_options_compose():
    torch.manual_seed(1)
    z, t = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.7).float()
    out, label = Output(z, None), torch.ones(2)
    both = JointLoss(seg="bce+dice", w_cls=0.0)(out, t, label).seg
    assert torch.allclose(both, bce(z, t) + soft_dice(z, t))
    weighted = JointLoss(seg="bce", distance_weighting=True, w_cls=0.0)(out, t, label).seg
    assert torch.allclose(weighted, bce(z, t, weight=distance_weights(t)))
    assert JointLoss(seg="focal", w_cls=0)(out, t, label).seg < JointLoss(w_cls=0)(out, t, label).seg


def test_dynamic_schedule():
    loss = JointLoss(schedule="dynamic", delta=0.5)
    assert (loss.w_seg, loss.w_cls) == (1.0, 0.0)
    loss.set_progress(3, 10)
    assert loss.w_seg == pytest.approx(0.7) and loss.w_cls == pytest.approx(0.15)
    with pytest.raises(ValueError):
        JointLoss(seg="lovasz")


def test_uncertainty_weighting_by_hand_and_learns():
    out = Output(torch.tensor([[[[2.0, -1.0]]]]), torch.tensor([0.3]))
    mask, label = torch.tensor([[[[1.0, 0.0]]]]), torch.tensor([1.0])
    loss = JointLoss(schedule="uncertainty")
    plain = JointLoss()(out, mask, label)
    assert loss.weights() == (0.5, 0.5)
    assert torch.allclose(loss(out, mask, label).total, plain.total)  # s = 0: the fixed 0.5/0.5
    with torch.no_grad():
        loss.log_vars.copy_(torch.tensor([1.0, -0.5]))
    seg, cls = plain.seg, plain.cls
    by_hand = 0.5 * (math.exp(-1.0) * seg + 1.0 + math.exp(0.5) * cls - 0.5)
    assert torch.allclose(loss(out, mask, label).total, by_hand)
    assert loss.weights() == pytest.approx((0.5 * math.exp(-1.0), 0.5 * math.exp(0.5)))
    loss(out, mask, label).total.backward()
    # d/ds_i of 0.5 (e^-s L + s) = 0.5 (1 - e^-s L)
    expected = 0.5 * (1 - torch.exp(-torch.tensor([1.0, -0.5])) * torch.stack([seg, cls]))
    assert torch.allclose(loss.log_vars.grad, expected)


def test_options_that_would_be_ignored_are_refused():
    with pytest.raises(ValueError, match="dynamic"):
        JointLoss.for_variant("seg-only", schedule="dynamic")
    with pytest.raises(ValueError, match="uncertainty"):
        JointLoss(w_seg=0.7, w_cls=0.3, schedule="uncertainty")
    with pytest.raises(ValueError, match="pos_weight"):
        JointLoss(seg="dice", pos_weight=5.0)
    with pytest.raises(ValueError, match="distance_weighting"):
        JointLoss(seg="dice", distance_weighting=True)
