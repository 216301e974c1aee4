"""Strict fake of the MindX SDK (Vision SDK) python package, for tests only: see sdk/base.py."""
