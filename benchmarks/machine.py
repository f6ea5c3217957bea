"""What machine a benchmark ran on, and how a benchmark puts its block on a result page."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def replace_block(lines: list[str], start: str, end: str, heading: str, page_path: Path) -> None:
    """Replace the block from ``start`` to ``end`` of ``page_path`` with ``lines`` (atomically).

    ``lines`` holds the markers themselves; a page without the block gets it appended under
    ``## heading``.
    """
    from calozoo.serialization import atomic_path

    text = "\n".join(lines)
    page = page_path.read_text() if page_path.exists() else "# Benchmarks\n"
    if start in page:
        head, rest = page.split(start, 1)
        page = head + text + rest.split(end, 1)[1]
    else:
        page = f"{page.rstrip()}\n\n## {heading}\n\n{text}\n"
    with atomic_path(page_path) as tmp:
        tmp.write_text(page)
