"""``python -m s3node.cli``: the ``s3node`` command."""

from s3node.cli import main

main()
