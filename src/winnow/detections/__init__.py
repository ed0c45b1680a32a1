"""Detections: one module per detector, each registered in ``registry``."""

from __future__ import annotations

from winnow.detections.base import Detector
from winnow.detections.registry import detectors, get_detector, register

__all__ = ["Detector", "detectors", "get_detector", "register"]
