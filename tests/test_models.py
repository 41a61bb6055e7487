import copy

import pytest
import torch
import torchvision

from samtl_lite.models import (
    ENCODERS,
    PADS,
    SEG_MODELS,
    ClsHead,
    FPNDecoder,
    MultiTaskNet,
    Output,
    SegModelWithHead,
    TinyEncoder,
    TorchvisionEncoder,
    UNetDecoder,
    adapt_first_conv,
    build_model,
    flatten_lighting,
    gaussian_blur,
    input_stride,
    parameter_counts,
    sample_scores,
    standardize,
    summary,
)


@pytest.mark.parametrize("encoder", ["tiny", "resnet18", "mobilenet_v3_large", "efficientnet_b0"])
@pytest.mark.parametrize("decoder", ["unet", "fpn"])
def test_output_shapes_for_odd_sizes(encoder, decoder):
    torch.manual_seed(0)
    for name in ("mtl", "seg-only", "cls-only"):
        model = build_model(name, encoder=encoder, decoder=decoder).eval()
        for h, w in ((97, 131), (250, 370)) if encoder == "tiny" else ((97, 131),):
            out = model(torch.rand(1, 1, h, w))
            assert isinstance(out, Output)
            assert out.mask_logits is None if name == "cls-only" else out.mask_logits.shape == (1, 1, h, w)
            assert out.cls_logits is None if name == "seg-only" else out.cls_logits.shape == (1,)
            scores = model.sample_scores(out)
            assert scores.shape == (1,) and 0.0 <= float(scores.detach()) <= 1.0


def test_three_channel_input_and_batches():
    model = build_model("mtl", encoder="resnet34", in_channels=3).eval()
    out = model(torch.rand(3, 3, 64, 80))
    assert out.mask_logits.shape == (3, 1, 64, 80) and out.cls_logits.shape == (3,)


def _encoder_grad(model, loss_of):
    model.zero_grad()
    loss_of(model(torch.rand(2, 1, 64, 64))).backward()
    grads = [p.grad for p in model.encoder.parameters()]
    return sum(0.0 if g is None else float(g.abs().sum()) for g in grads)


def test_gradient_reaches_encoder_from_both_heads_unless_detached():
    torch.manual_seed(0)
    model = MultiTaskNet(TinyEncoder(), "unet", ClsHead(128))
    assert _encoder_grad(model, lambda o: o.mask_logits.mean()) > 0
    assert _encoder_grad(model, lambda o: o.cls_logits.mean()) > 0
    detached = MultiTaskNet(TinyEncoder(), "unet", ClsHead(128, detach_input=True))
    assert _encoder_grad(detached, lambda o: o.cls_logits.mean()) == 0.0
    assert all(p.grad.abs().sum() > 0 for p in detached.cls_head.parameters())  # the head itself still learns
    assert _encoder_grad(detached, lambda o: o.mask_logits.mean()) > 0


def test_head_reading_the_mask_needs_a_decoder():
    torch.manual_seed(0)
    model = MultiTaskNet(TinyEncoder(), "unet", ClsHead(128, use_mask=True)).eval()
    assert model(torch.rand(2, 1, 32, 32)).cls_logits.shape == (2,)
    with pytest.raises(ValueError, match="mask logits"):
        MultiTaskNet(TinyEncoder(), None, ClsHead(128, use_mask=True))(torch.rand(1, 1, 32, 32))


@pytest.mark.parametrize("encoder", ["tiny", "resnet18"])
def test_channels_last_gives_the_same_outputs(encoder):
    torch.manual_seed(0)
    model = build_model("mtl", encoder=encoder).eval()
    x = torch.rand(2, 1, 96, 96)
    ref = model(x)
    cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(ref.mask_logits, cl.mask_logits, atol=1e-4)
    assert torch.allclose(ref.cls_logits, cl.cls_logits, atol=1e-4)


def test_eval_outputs_are_deterministic():
    torch.manual_seed(1)
    model = build_model("mtl", decoder="fpn").eval()
    x = torch.rand(2, 1, 80, 72)
    a, b = model(x), model(x)
    assert torch.equal(a.mask_logits, b.mask_logits) and torch.equal(a.cls_logits, b.cls_logits)
    torch.manual_seed(1)
    again = build_model("mtl", decoder="fpn").eval()
    assert torch.equal(again(x).mask_logits, a.mask_logits)


def test_parameter_counts_match_a_hand_count():
    model = MultiTaskNet(TinyEncoder(1, channels=(4, 8)), UNetDecoder([4, 8], (4,)), ClsHead(8, hidden=3))
    # encoder: stage 1 = conv 1->4 (36) + BN (8) + conv 4->4 (144) + BN (8) = 196
    #          stage 2 = conv 4->8 (288) + BN (16) + conv 8->8 (576) + BN (16) = 896
    # decoder: conv (8+4)->4 (432) + BN (8) + conv 4->4 (144) + BN (8) + head conv 4->1 with bias (37) = 629
    # head:    Linear(2*8 -> 3) (51) + Linear(3 -> 1) (4) = 55
    assert parameter_counts(model) == {"encoder": 1092, "decoder": 629, "cls_head": 55, "total": 1776}
    assert summary(model).splitlines()[-1].split() == ["total", "1,776"]


def test_fpn_decoder_shape():
    dec = FPNDecoder([16, 32, 64, 128], channels=8)
    feats = [torch.rand(1, c, 64 // 2**i, 64 // 2**i) for i, c in enumerate([16, 32, 64, 128])]
    assert dec(feats).shape == (1, 1, 64, 64)


def test_one_channel_adaptation_is_exact_for_gray_images():
    torch.manual_seed(0)
    rgb = torchvision.models.resnet18(weights=None).eval()
    gray = adapt_first_conv(torchvision.models.resnet18(weights=None), 1).eval()
    gray.load_state_dict({k: (v.sum(1, keepdim=True) if k == "conv1.weight" else v)
                          for k, v in rgb.state_dict().items()})
    x = torch.rand(2, 1, 64, 64)
    assert torch.allclose(gray(x), rgb(x.repeat(1, 3, 1, 1)), atol=1e-4)


def test_a_second_view_starts_at_zero_weight():
    """With `views=2` the pretrained response is kept whatever the second view holds, until training moves it."""
    torch.manual_seed(0)
    rgb = torchvision.models.resnet18(weights=None).eval()
    two = adapt_first_conv(copy.deepcopy(rgb), 1, views=2).eval()
    x = torch.rand(2, 1, 64, 64)
    assert two.conv1.in_channels == 2
    assert torch.allclose(two(torch.cat([x, torch.randn_like(x)], 1)), rgb(x.repeat(1, 3, 1, 1)), atol=1e-4)
    colour = adapt_first_conv(copy.deepcopy(rgb), 3, views=2).conv1.weight
    assert colour.shape[1] == 6 and colour[:, 3:].abs().sum() == 0 and torch.equal(colour[:, :3], rgb.conv1.weight)


def test_weights_file_is_loaded_then_adapted(tmp_path):
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    encoder = TorchvisionEncoder("resnet18", in_channels=1, weights=path)
    state = encoder.body.state_dict()
    assert torch.equal(state["conv1.weight"], reference.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(state["layer3.1.conv2.weight"], reference.layer3[1].conv2.weight)
    fresh = TorchvisionEncoder("resnet18", in_channels=1)
    assert not torch.equal(fresh.body.state_dict()["layer3.1.conv2.weight"], reference.layer3[1].conv2.weight)


@pytest.mark.parametrize("seg", ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"])
def test_head_plugs_onto_a_torchvision_segmentation_model(seg):
    torch.manual_seed(0)
    model = build_model("mtl", encoder=seg)
    assert isinstance(model, SegModelWithHead)
    out = model(torch.rand(2, 1, 97, 131))
    assert out.mask_logits.shape == (2, 1, 97, 131) and out.cls_logits.shape == (2,)
    out.cls_logits.sum().backward()  # the head's gradient flows into the seg model's backbone
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.seg_model.backbone.parameters())
    seg_only = build_model("seg-only", encoder=seg).eval()
    assert seg_only(torch.rand(1, 1, 64, 64)).cls_logits is None


def test_sample_scores_by_hand():
    mask = torch.full((2, 1, 3, 3), -10.0)
    mask[0, 0, 1, 1], mask[0, 0, 0, 0] = 2.0, 0.0
    out = Output(mask, torch.tensor([0.0, 1.0]))
    assert torch.allclose(sample_scores(out, "cls"), torch.sigmoid(torch.tensor([0.0, 1.0])))
    assert torch.allclose(sample_scores(out, "max"), torch.sigmoid(torch.tensor([2.0, -10.0])))
    top2 = (torch.sigmoid(torch.tensor(2.0)) + 0.5) / 2
    assert torch.allclose(sample_scores(out, "topk", k=2)[0], top2)
    assert torch.equal(sample_scores(out), sample_scores(out, "cls"))
    assert torch.equal(sample_scores(Output(mask, None)), sample_scores(out, "max"))
    with pytest.raises(ValueError, match="no classification head"):
        sample_scores(Output(mask, None), "cls")
    with pytest.raises(ValueError, match="no decoder"):
        sample_scores(Output(None, torch.zeros(2)), "max")


def test_factory_refuses_unknown_parts():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("both")
    with pytest.raises(ValueError, match="unknown encoder"):
        build_model(encoder="vgg")
    with pytest.raises(ValueError, match="unknown decoder"):
        build_model(decoder="linknet")
    with pytest.raises(ValueError, match="segmentation model"):
        build_model("cls-only", encoder="lraspp_mobilenet_v3_large")
    with pytest.raises(ValueError, match="in_channels"):
        build_model(encoder="resnet18", in_channels=2)
    with pytest.raises(ValueError, match="normalize"):
        build_model(normalize="dataset")


@pytest.mark.parametrize("sigma", [0.7, 2.0, 4.5])
def test_gaussian_blur_matches_torchvision_and_keeps_gradients(sigma):
    from torchvision.transforms.v2.functional import gaussian_blur as reference

    x = torch.rand(3, 2, 37, 52)
    k = 2 * round(3 * sigma) + 1
    r = k // 2
    inner = (..., slice(r, -r), slice(r, -r))  # mirror_pad pads the border otherwise; torchvision reflects
    assert torch.allclose(gaussian_blur(x, sigma)[inner], reference(x, [k, k], [sigma, sigma])[inner], atol=1e-5)
    assert torch.allclose(gaussian_blur(x, sigma, "reflect"), reference(x, [k, k], [sigma, sigma]), atol=1e-5)
    yy, xx = torch.meshgrid(torch.arange(37.0), torch.arange(52.0), indexing="ij")
    ramp = (0.2 + 0.01 * yy - 0.003 * xx).expand(1, 1, 37, 52)
    assert torch.allclose(gaussian_blur(ramp, sigma), ramp, atol=1e-5)  # a plane is its own blur, edges included
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, 0.0)
    with pytest.raises(ValueError, match="mirror"):
        gaussian_blur(x, sigma, "zeros")


def test_a_plain_reflection_keeps_a_defect_at_the_border():
    """The same 5-noise-std pit inside the image and touching its left edge: `mirror_pad` continues the edge pit into
    the pad, the lighting estimate follows it and the flattened view keeps about 3 of its units; a plain reflection
    keeps it as deep as the inner one (about 4.2: the blur takes a little of any pit)."""
    g = torch.Generator().manual_seed(0)
    image = 0.5 + 0.01 * torch.randn(1, 1, 128, 128, generator=g)
    edge, inner = (..., slice(60, 66), slice(0, 3)), (..., slice(60, 66), slice(62, 65))
    image[edge] -= 0.05
    image[inner] -= 0.05
    views = {pad: -flatten_lighting(image, pad) for pad in PADS}  # pits are dark: depth in units
    depth = {pad: (float(v[edge].mean()), float(v[inner].mean())) for pad, v in views.items()}
    assert all(4.0 < at_inner < 4.5 for _, at_inner in depth.values())
    assert depth["reflect"][0] > 0.95 * depth["reflect"][1]
    assert depth["mirror"][0] < 0.75 * depth["mirror"][1]
    with pytest.raises(ValueError, match="reflect"):
        build_model(normalize="flatten", lighting_pad="zeros")


def test_flatten_lighting_measures_a_defect_against_the_noise():
    """A 5-noise-std pit under uneven light: about 5 units once the lighting is gone, under 1 when the image is
    only standardised, because the light's spread (0.1) is ten times the noise (0.01)."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-0.5, 0.5, 128), torch.linspace(-0.5, 0.5, 128), indexing="ij")
    light = 0.5 + 0.3 * xx - 0.5 * (xx**2 + yy**2)
    image = light + 0.01 * torch.randn(128, 128, generator=g)
    image[62:65, 62:65] += 0.05
    pit, around = (slice(62, 65), slice(62, 65)), (slice(50, 75), slice(50, 75))

    def contrast(v):
        v = v[0, 0]
        return float(v[pit].mean() - v[around].median())

    assert 0.09 < float(light.std()) < 0.11
    assert contrast(standardize(image[None, None])) < 0.7
    assert 4.0 < contrast(flatten_lighting(image[None, None])) < 5.5


@pytest.mark.parametrize("normalize", ["per-image", "flatten"])
def test_inputs_are_standardised_per_image(normalize):
    """Brightness and contrast of the whole image do not change the outputs (a > 0)."""
    torch.manual_seed(0)
    model = build_model("mtl", normalize=normalize).eval()
    x = torch.rand(2, 1, 48, 64) * 0.2 + 0.3
    a, b = model(x), model(1.7 * x + 0.1)
    assert torch.allclose(a.mask_logits, b.mask_logits, atol=1e-3)
    assert torch.allclose(a.cls_logits, b.cls_logits, atol=1e-3)
    z = standardize(x)
    assert torch.allclose(z.mean((2, 3)), torch.zeros(2, 1), atol=1e-5)


@pytest.mark.parametrize("pad", PADS)
def test_flattened_view_works_at_any_size(pad):
    """The blur's radius is cut to fit: images down to one pixel go through, with finite outputs."""
    torch.manual_seed(0)
    model = build_model("mtl", normalize="flatten", lighting_pad=pad).eval()
    for h, w in ((1, 1), (2, 3), (3, 40), (17, 5), (97, 131)):
        out = model(torch.rand(2, 1, h, w))
        assert out.mask_logits.shape == (2, 1, h, w) and torch.isfinite(out.mask_logits).all()
        assert torch.isfinite(out.cls_logits).all()


@pytest.mark.parametrize("encoder", ENCODERS + SEG_MODELS)
def test_every_model_has_an_integer_stride_known_without_building_it(encoder):
    """`stride` is an int, `input_stride(encoder)` tells it without a model, and an input whose sides are multiples
    of it comes out at its own size, its deepest feature map exactly `stride` times smaller on each side."""
    model = build_model("mtl", encoder).eval()
    assert type(model.stride) is int and model.stride == input_stride(encoder)
    assert model.stride == (16 if encoder == "tiny" or encoder in SEG_MODELS else 32)  # 4 halvings, or 5
    s = model.stride
    deepest = []
    taps = model.seg_model.backbone if encoder in SEG_MODELS else model.encoder
    hook = taps.register_forward_hook(lambda _m, _i, out: deepest.append(out))
    with torch.no_grad():
        out = model(torch.rand(2, 1, 3 * s, 5 * s))
    hook.remove()
    assert out.mask_logits.shape == (2, 1, 3 * s, 5 * s) and out.cls_logits.shape == (2,)
    maps = deepest[0].values() if isinstance(deepest[0], dict) else deepest[0]
    assert min(f.shape[-2] for f in maps) == 3 and min(f.shape[-1] for f in maps) == 5
    with pytest.raises(ValueError, match="unknown encoder"):
        input_stride("vgg11")
