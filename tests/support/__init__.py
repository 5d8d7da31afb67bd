"""Helpers shared by s3node's tests (``pythonpath = tests`` makes this ``support``)."""
