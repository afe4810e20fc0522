"""SFTP on a partner's server, with asyncssh, behind a synchronous facade.

asyncssh is asynchronous; our callers are synchronous Django code (a Celery task storing files in
the database between SFTP operations, which Django refuses to do from inside an event loop). So a
session runs its own event loop in a private thread and every operation is submitted to it and
awaited with its own timeout: the caller's thread never runs an event loop.

Every call has a budget: `connect_timeout` for TCP + SSH handshake + login, `operation_timeout` for
each SFTP operation (a listing, one file's read or write). The server's host key must be the pinned
one (no known_hosts file, no agent, no user ssh config is consulted).
"""

from __future__ import annotations

import asyncio
import posixpath
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import asyncssh

from partners.exceptions import TransportError

PART_SUFFIX = ".part"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    username: str
    host_key: str
    password: str = ""
    private_key: str = ""
    connect_timeout: float = 10.0
    operation_timeout: float = 60.0

    @property
    def label(self) -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    size: int


class Session:
    """One SSH connection with an SFTP channel: `with Session(target) as sftp: ...`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-session", daemon=True)
        self._connection = None
        self._sftp = None

    def __enter__(self) -> Session:
        self._thread.start()
        try:
            self._run(self._connect(), self.target.connect_timeout, "connecting")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None and self._thread.is_alive():
            try:
                self._run(self._disconnect(), 5, "closing")
            except TransportError:
                pass
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    def _run(self, coroutine, timeout: float, what: str):
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self._loop)
        try:
            return future.result(timeout + 1)
        except (TimeoutError, FutureTimeout):
            future.cancel()
            raise TransportError(f"{self.target.label}: {what} took longer than {timeout:g}s") from None
        except asyncssh.HostKeyNotVerifiable as exc:
            raise TransportError(
                f"{self.target.label}: host key is not the pinned one ({exc})", retryable=False
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise TransportError(f"{self.target.label}: login refused ({exc})", retryable=False) from None
        except asyncssh.SFTPNoSuchFile as exc:
            raise TransportError(f"{self.target.label}: {what}: no such file or folder ({exc})") from None
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(f"{self.target.label}: {what} failed: {type(exc).__name__}: {exc}"[:500]) from None

    async def _connect(self) -> None:
        target = self.target
        keys = [asyncssh.import_private_key(target.private_key)] if target.private_key else None
        self._connection = await asyncssh.connect(
            target.host,
            target.port,
            username=target.username,
            password=target.password or None,
            client_keys=keys,
            known_hosts=([asyncssh.import_public_key(target.host_key)], [], []),
            agent_path=None,
            config=None,
            login_timeout=target.connect_timeout,
            keepalive_interval=15,
        )
        self._sftp = await self._connection.start_sftp_client()

    async def _disconnect(self) -> None:
        self._sftp.exit()
        self._connection.close()
        await self._connection.wait_closed()

    # --- Operations ------------------------------------------------------------------------------

    def list_files(self, directory: str) -> list[RemoteFile]:
        """Regular files directly in `directory`, oldest name first; dot files and `.part` files
        (still being written) are left alone."""

        async def listing():
            return await self._sftp.readdir(directory)

        names = self._run(listing(), self.target.operation_timeout, f"listing {directory}")
        found = [
            RemoteFile(name=n.filename, path=posixpath.join(directory, n.filename), size=n.attrs.size or 0)
            for n in names
            if n.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
            and not n.filename.startswith(".")
            and not n.filename.endswith(PART_SUFFIX)
        ]
        return sorted(found, key=lambda f: f.name)

    def read(self, path: str, *, max_bytes: int) -> bytes:
        async def reading():
            async with self._sftp.open(path, "rb") as remote:
                data = await remote.read(max_bytes + 1)
            return data

        data = self._run(reading(), self.target.operation_timeout, f"reading {path}")
        if len(data) > max_bytes:
            raise TransportError(f"{self.target.label}: {path} is larger than {max_bytes} bytes", retryable=False)
        return data

    def write_atomically(self, directory: str, name: str, data: bytes) -> str:
        """Write `name` so the partner never sees half of it: the bytes go to `.name.part`, which is
        then renamed onto `name` (POSIX rename replaces: a retry after a lost answer rewrites the same
        name with the same bytes, never a second file)."""
        final = posixpath.join(directory, name)
        temporary = posixpath.join(directory, f".{name}{PART_SUFFIX}")

        async def writing():
            async with self._sftp.open(temporary, "wb") as remote:
                await remote.write(data)
            try:
                await self._sftp.posix_rename(temporary, final)
            except asyncssh.SFTPOpUnsupported:
                if await self._sftp.exists(final):
                    await self._sftp.remove(final)
                await self._sftp.rename(temporary, final)

        self._run(writing(), self.target.operation_timeout, f"writing {final}")
        return final

    def remove(self, path: str) -> None:
        self._run(self._sftp.remove(path), self.target.operation_timeout, f"removing {path}")

    def move(self, path: str, directory: str) -> str:
        target = posixpath.join(directory, posixpath.basename(path))
        self._run(self._sftp.posix_rename(path, target), self.target.operation_timeout, f"moving {path}")
        return target
