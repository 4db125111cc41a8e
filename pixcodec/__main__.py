"""`python -m pixcodec` is the `pixcodec` command."""
from pixcodec.cli import run

run()
