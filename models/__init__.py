"""nnserve's NumPy neural-network engine (numpy only: no scikit-learn, no Flask).

``MLPClassifier`` trains and predicts scikit-learn style and saves ``.npz`` artifacts;
``ArtifactError`` is raised by ``MLPClassifier.load`` for a file that is not a valid artifact.
"""

from .artifact import FORMAT_VERSION, ArtifactError
from .classifier import MLPClassifier
from .params import PARAM_RANGES, check_param, check_params

__all__ = ["FORMAT_VERSION", "PARAM_RANGES", "ArtifactError", "MLPClassifier", "check_param",
           "check_params"]
