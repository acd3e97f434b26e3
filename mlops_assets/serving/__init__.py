"""Serving the champion online (`mlops-assets serve`): an ASGI service over the registry.

Layers, thinnest at the edge:

- pure cores: :mod:`.rows` (JSON rows -> a validated raw frame, with the batch audit's rules),
  :mod:`.canary` (sticky assignment, the canary verdict), :mod:`.traffic` (the per-window
  buffer of served rows and labels), :mod:`.prom` (Prometheus text);
- :mod:`.online_features` (the model table of request rows, rolling rates from the published
  history), :mod:`.loading` (a registry version from lakeFS, safetensors only);
- :mod:`.service` (the state: models swapped atomically, the registry follower, feedback,
  landing flushes, the canary judge), :mod:`.app` (Starlette routes), :mod:`.server` (uvicorn).

See docs/serving.md.
"""
