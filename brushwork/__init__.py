"""Brushwork: neural style transfer on the original VGG-19 (Gatys et al.), as a library.

    >>> import brushwork
    >>> content = brushwork.load_image("photo.jpg")
    >>> style = brushwork.load_image("starry_night.jpg")
    >>> image = brushwork.stylize(content, [style], config=brushwork.TransferConfig(size=512))
    >>> brushwork.save_image(image, "out.png")
"""

__version__ = "0.1.0"  # first: modules imported below read it

from brushwork.errors import BrushworkError, InputError
from brushwork.engine.features import VGG19_LAYERS, VGGFeatures, load_vgg19_weights
from brushwork.media.image_io import load_image, load_mask, read_metadata, save_gif, save_image
from brushwork.engine.losses import ContentTarget, StyleTarget, content_loss, gram_matrix, style_loss, total_variation
from brushwork.engine.metrics import Scores, score
from brushwork.engine.optimize import Progress, StopOptimization
from brushwork.engine.schedules import MultiScaleSchedule, WeightSchedule
from brushwork.engine.transfer import PreparedStyles, TransferConfig, prepare_styles, reconstruct, stylize, synthesize_texture


__all__ = [
    "BrushworkError", "InputError", "VGG19_LAYERS", "VGGFeatures", "load_vgg19_weights",
    "load_image", "load_mask", "read_metadata", "save_gif", "save_image",
    "ContentTarget", "StyleTarget", "content_loss", "gram_matrix", "style_loss", "total_variation",
    "Scores", "score", "Progress", "StopOptimization", "MultiScaleSchedule", "WeightSchedule",
    "PreparedStyles", "TransferConfig", "prepare_styles", "reconstruct", "stylize", "synthesize_texture", "__version__",
]
