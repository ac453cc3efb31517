"""User-facing errors: each message names the cause and the fix, so nodes and the CLI can show it as is."""


class FaceCLIPError(Exception):
    """Base of every error this package raises on purpose. `exit_code` is what the CLI returns for it."""

    exit_code = 2


class CheckpointError(FaceCLIPError):
    """A weights file that is missing, unreadable, truncated, unsafe, or not the model that was expected."""


class UsageError(FaceCLIPError):
    """Bad arguments or input files given to a public function or command."""


class ModelPackError(FaceCLIPError):
    """A face model pack (insightface layout) that is missing, incomplete or holds an unreadable model file."""


class NoFaceError(FaceCLIPError):
    """No face was found in an image that needs one: a reference image, a photo to detect in, an ID-EA training photo."""

    exit_code = 3
