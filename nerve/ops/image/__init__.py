"""Image ops (Keras 3's ``keras.ops.image``).

Images are ``(height, width, channels)`` or a batch ``(batch, height, width,
channels)``; ``data_format="channels_first"`` puts the channels before the
spatial axes. Modules by family: ``resampling`` (separable resampling: ``resize``,
``scale_and_translate``), ``sampling`` (reading at computed coordinates:
``map_coordinates``, ``affine_transform``, ``perspective_transform``,
``elastic_transform``), ``filters`` (``gaussian_blur``, ``sobel_edges``,
``ssim``), ``color`` and ``patches`` (``extract_patches``, crops and pads).
All are composites of primitives, so they are differentiable where their
outputs depend smoothly on their inputs, and they trace into graphs.

>>> from nerve import ops
>>> ops.image.resize(ops.ones((1, 4, 4, 3)), (2, 2)).shape
(1, 2, 2, 3)
"""

from nerve.ops.image import color, filters, patches, resampling, sampling
from nerve.ops.image.color import *  # noqa: F403
from nerve.ops.image.filters import *  # noqa: F403
from nerve.ops.image.patches import *  # noqa: F403
from nerve.ops.image.resampling import *  # noqa: F403
from nerve.ops.image.resampling import INTERPOLATIONS as INTERPOLATIONS
from nerve.ops.image.resampling import resize_taps as resize_taps
from nerve.ops.image.sampling import *  # noqa: F403

__all__: list[str] = []
__all__ += color.__all__
__all__ += filters.__all__
__all__ += patches.__all__
__all__ += resampling.__all__
__all__ += sampling.__all__
