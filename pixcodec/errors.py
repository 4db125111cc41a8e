"""Errors meant for users: each carries a one-line message the CLI prints as it is."""


class PixcodecError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class FormatError(PixcodecError):
    """A .pxc file that is not valid: wrong magic, truncated, corrupted, failed checksum."""


class UnsupportedImageError(PixcodecError):
    """An image pixcodec refuses to code (mode, bit depth, size)."""


class ModelError(PixcodecError):
    """An unknown model, or weights that do not match their recorded hash."""


class ArgumentError(PixcodecError, ValueError, TypeError):
    """An API argument of a type or value pixcodec does not take (also a ValueError and a
    TypeError, for callers that catch those)."""
