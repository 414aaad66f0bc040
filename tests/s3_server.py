"""A real S3 API for tests: moto's standalone server as a process on 127.0.0.1 (as s3fs's own
test suite runs it), with the standard AWS variables pointing at it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from tests.helpers import free_port

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}




@dataclass
class S3Server:
    """One moto server process; `endpoint` is what AWS_ENDPOINT_URL is set to."""

    port: int
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> "S3Server":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **AWS_ENV})
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()  # cached filesystems would call a dead port
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def make_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, **_creds()).create_bucket(Bucket=name)


def _creds() -> dict:
    return {"aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": AWS_ENV["AWS_DEFAULT_REGION"]}


class CuttingProxy:
    """A TCP proxy to the S3 server that drops every connection (and refuses new ones) once
    `limit` bytes went upstream: the network lost mid-upload, with the server's data kept."""

    def __init__(self, upstream_port: int, limit: int):
        import threading

        self.upstream, self.limit, self.sent = upstream_port, limit, 0
        self.port = free_port()
        self.cut = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import threading

        while not self.cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while not self.cut.is_set() and (data := src.recv(1 << 16)):
                if upstream:
                    self.sent += len(data)
                    if self.sent > self.limit:
                        self.drop()
                        return
                dst.sendall(data)
        except OSError:
            pass

    def drop(self) -> None:
        self.cut.set()
        for s in [self._listener, *self._socks]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
