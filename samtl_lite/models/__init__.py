"""Models: shared encoders (02_shared_encoder), decoders, the classifier plugin and the multi-task net
(03_heads)."""

from samtl_lite.models.decoders import DECODERS, FPNDecoder, UNetDecoder
from samtl_lite.models.encoders import (
    ENCODERS,
    TinyEncoder,
    TorchvisionEncoder,
    adapt_first_conv,
    build_encoder,
    conv_bn_relu,
    encoder_stride,
)
from samtl_lite.models.heads import ClsHead, global_pool
from samtl_lite.models.net import (
    NORMALIZE,
    PADS,
    SEG_MODELS,
    VARIANTS,
    MultiTaskNet,
    Output,
    SegModelWithHead,
    build_model,
    flatten_lighting,
    gaussian_blur,
    input_stride,
    input_views,
    model_input,
    sample_scores,
    standardize,
)
from samtl_lite.models.summary import parameter_counts, summary

__all__ = [
    "DECODERS",
    "ENCODERS",
    "NORMALIZE",
    "PADS",
    "SEG_MODELS",
    "VARIANTS",
    "ClsHead",
    "FPNDecoder",
    "MultiTaskNet",
    "Output",
    "SegModelWithHead",
    "TinyEncoder",
    "TorchvisionEncoder",
    "UNetDecoder",
    "adapt_first_conv",
    "build_encoder",
    "build_model",
    "conv_bn_relu",
    "encoder_stride",
    "flatten_lighting",
    "gaussian_blur",
    "global_pool",
    "input_stride",
    "input_views",
    "model_input",
    "parameter_counts",
    "sample_scores",
    "standardize",
    "summary",
]
