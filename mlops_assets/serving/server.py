"""Run the app with uvicorn: in the foreground (the CLI) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


def prepare_process(torch_threads: int = 1) -> None:
    """Tune the serving process once its models are loaded: fix torch's intra-op threads (a
    request's matrices are tiny; more threads than cores only contend with the event loop), and
    move every object alive now out of the garbage collector's reach (``gc.freeze``): a full
    collection over the imported libraries took 2.5 s in one request on a loaded machine,
    requests allocate little that lives long, and the frozen set is what stays loaded anyway."""
    import gc

    import torch

    torch.set_num_threads(torch_threads)
    gc.collect()
    gc.freeze()


def run(app: Any, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


class ServerThread:
    """uvicorn in a daemon thread on `host` (port 0: a free one, see :attr:`port`)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.host = host

    def start(self, timeout: float = 120.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the serving app did not start (see its log)")
            time.sleep(0.05)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
