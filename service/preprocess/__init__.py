"""Preprocessing shared by training (export/) and serving (service/): one implementation, no skew.

Pure numpy; imports neither torch nor onnxruntime. Each function raises
:class:`PreprocessError` naming the field and the rule it broke, which the service maps to a 422.
"""

from service.preprocess.errors import PreprocessError

__all__ = ["PreprocessError"]
