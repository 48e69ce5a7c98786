"""Shared kernel: typed settings, structured logging and the project's error types.

Everything here is dependency-light and imported by every other package.
"""
