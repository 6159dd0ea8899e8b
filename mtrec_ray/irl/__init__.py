"""Distributional inverse RL (QR-IQL): losses, configuration and the training loop."""

from __future__ import annotations
