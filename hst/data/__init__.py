"""Datasets: registry, downloader, safe extraction, normalisation, pair checking, synthetic twins, patch cache.

Normalised sets live in ``<root>/<SET>/{input,target}/``; see docs/architecture.md.
"""
