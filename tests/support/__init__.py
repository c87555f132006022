"""Helpers the tests share, and the benchmarks, the demo and the README's screenshot with them (all run from a
checkout of the project; nothing in shared/ or workers/ imports them).

- `services`: free ports, stopping a process by its PID, a Redis-protocol server, moto's S3 server, an
  OpenSearch node.
- `media`: photo-like JPEGs, videos and recordings made by the real ffmpeg, the committed spoken sentences.
- `models`: a CLIP with random weights, built offline.
- `cli`: the real `mmindex` command.
- `workers`: real `mmindex worker` processes, started and stopped as one context manager.

The pytest fixtures built on them are in tests/conftest.py.
"""
