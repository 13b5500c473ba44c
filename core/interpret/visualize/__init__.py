"""Feature visualisation by optimisation (Olah et al. 2017; lucid/lucent's recipe): the image a unit, a channel, a
direction in a layer, or an encoding model's neuroid responds to most.

    from brainbench.interpret.visualize import Channel, visualize
    result = visualize(get_model("efficientnet_lite0"), Channel("_blocks.5", 3), steps=256)
    result.save_png("channel3.png")

- :mod:`.image`: the decorrelated Fourier and the pixel parameterisations, and the colour matrix;
- :mod:`.transforms`: pad, jitter, random scale and rotation with torch's own operations, seeded;
- :mod:`.objectives`: :class:`Unit`, :class:`Channel`, :class:`Direction`, the layer tap and the model's
  preprocessing as a differentiable map;
- :mod:`.voxel`: :func:`fit_voxel`, a benchmark neuroid's ridge readout, and :class:`Voxel`, its prediction as an
  objective;
- :mod:`.optimise`: :func:`visualize` (Adam, seeded) and :class:`Visualisation` (image, curve, settings, PNG).
"""

from .image import PARAMETERISATIONS, colour_matrix
from .mei import objective_top_images
from .objectives import Channel, Direction, Unit, model_input
from .optimise import Visualisation, visualize
from .transforms import standard_transforms
from .voxel import Readout, Voxel, fit_readout, fit_voxel

__all__ = ["PARAMETERISATIONS", "Channel", "Direction", "Readout", "Unit", "Visualisation", "Voxel", "colour_matrix", "objective_top_images",
           "fit_readout", "fit_voxel", "model_input", "standard_transforms", "visualize"]
