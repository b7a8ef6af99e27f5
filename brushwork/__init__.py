"""Brushwork: neural style transfer on the original VGG-19 (Gatys et al.), as a library.

    >>> import brushwork
    >>> content = brushwork.load_image("photo.jpg")
    >>> style = brushwork.load_image("starry_night.jpg")
    >>> image = brushwork.stylize(content, [style], config=brushwork.TransferConfig(size=512))
    >>> brushwork.save_image(image, "out.png")
"""

from .errors import BrushworkError, InputError
from .features import VGG19_LAYERS, VGGFeatures, load_vgg19_weights
from .image_io import load_image, load_mask, read_metadata, save_gif, save_image
from .losses import ContentTarget, StyleTarget, content_loss, gram_matrix, style_loss, total_variation
from .metrics import Scores, score
from .optimize import Progress, StopOptimization
from .schedules import MultiScaleSchedule, WeightSchedule
from .transfer import PreparedStyles, TransferConfig, prepare_styles, reconstruct, stylize, synthesize_texture

__version__ = "0.1.0"

__all__ = [
    "BrushworkError", "InputError", "VGG19_LAYERS", "VGGFeatures", "load_vgg19_weights",
    "load_image", "load_mask", "read_metadata", "save_gif", "save_image",
    "ContentTarget", "StyleTarget", "content_loss", "gram_matrix", "style_loss", "total_variation",
    "Scores", "score", "Progress", "StopOptimization", "MultiScaleSchedule", "WeightSchedule",
    "PreparedStyles", "TransferConfig", "prepare_styles", "reconstruct", "stylize", "synthesize_texture", "__version__",
]
