"""The command-line front end (installed as pixcodec.cli)."""
