"""Layers and backbones."""
