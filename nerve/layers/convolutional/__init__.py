"""Keras 3's convolution layers: plain (``Conv1D``/``2D``/``3D``, with groups),
depthwise, separable and transposed, all on one shared base (``base.Convolution``);
the ``Convolution*`` names are Keras's aliases of the same classes.

>>> from nerve import layers, ops
>>> layers.Convolution2D is layers.Conv2D
True
>>> layers.Conv2D(4, 3)(ops.ones((1, 5, 5, 2))).shape
(1, 3, 3, 4)
"""

from nerve.layers.convolutional.base import Convolution
from nerve.layers.convolutional.conv import BaseConv, Conv1D, Conv2D, Conv3D
from nerve.layers.convolutional.conv_transpose import (
    BaseConvTranspose,
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
)
from nerve.layers.convolutional.depthwise_conv import (
    BaseDepthwiseConv,
    DepthwiseConv1D,
    DepthwiseConv2D,
)
from nerve.layers.convolutional.separable_conv import (
    BaseSeparableConv,
    SeparableConv1D,
    SeparableConv2D,
)

# Keras's alternative names (the same classes, so configs name the short ones).
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "BaseConv",
    "BaseConvTranspose",
    "BaseDepthwiseConv",
    "BaseSeparableConv",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Convolution",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
]
