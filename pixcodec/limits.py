"""The bounds every part shares (the format's, the CLI's options'), in a module that imports
nothing, so the CLI can state them without loading numpy or torch."""

DEFAULT_MAX_PIXELS = 2**28  # a decoder refuses larger images unless told otherwise
# A decoder refuses a CHNK section (the PNG's metadata) that inflates to more unless told
# otherwise: Pillow's own bound on a PNG's text.
DEFAULT_MAX_METADATA = 2**26
MAX_MODEL_NAME = 64         # characters of a model name in a file
# The coder keeps a feature cache per tile; this bounds it (about 0.8 GiB for the shipped models
# at 1024 x 1024), whatever a file says.
MAX_TILE = 1024
DEFAULT_TILE = 256         # the tile side of files coded with a model that names none
MAX_SIDE = 2**16            # pixels a side, for images read and for .pxc headers alike

# The encoder's effort levels (pixcodec.adapt says what each fits) and the default.
EFFORTS = (0, 1, 2)
DEFAULT_EFFORT = 2
