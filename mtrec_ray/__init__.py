"""mtrec-ray: learn users' hidden mental reward from implicit feedback, on Ray.

Importing this package starts nothing (no ``ray.init``); every entry point that needs
Ray starts or connects to it explicitly.
"""

from __future__ import annotations

__version__ = "0.1.0"
