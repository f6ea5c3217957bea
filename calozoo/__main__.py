"""``python -m calozoo`` is the ``calozoo`` command."""

from .cli import main

main()
