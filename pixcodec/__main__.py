"""`python -m pixcodec` is the `pixcodec` command."""
from pixcodec.cli.main import main

main(prog_name="pixcodec")
