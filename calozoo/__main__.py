"""``python -m calozoo`` is the ``calozoo`` command."""

from .cli import main

if __name__ == "__main__":
    main()
