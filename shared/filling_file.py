"""A temporary file that the event loop fills while a worker thread reads it.

An import's parser reads a blocking ``IO[bytes]``; waiting for a whole
download before the first byte is parsed costs the download's time once
more. `FillingFile` lets the download append chunks from the event loop
while the parser, in a thread, reads what has arrived and blocks only when
it catches up. The content lives on disk, so memory stays flat.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading

__all__ = ("FillingFile", "TransferFailed")


class TransferFailed(OSError):
    """The content stopped arriving (a broken download); the reader cannot go on."""


class FillingFile(io.RawIOBase):
    """A seekable, read-only raw file whose end grows until `finish` is called.

    `append` and `finish` are for the writer (any thread, typically the event
    loop); `readinto` blocks until the bytes asked for exist, the content is
    complete, or the writer gave up, in which case it raises that error.
    """

    def __init__(self) -> None:
        super().__init__()
        self._spool = tempfile.TemporaryFile(prefix="vigil-scan-")  # noqa: SIM115 (closed by close)
        self._fd = self._spool.fileno()
        self._size = 0
        self._position = 0
        self._complete = False
        self._error: TransferFailed | None = None
        self._arrived = threading.Condition()

    def append(self, data: bytes) -> None:
        """Add `data` at the end (writer side)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self._size)
            view = view[written:]
            with self._arrived:
                self._size += written
                self._arrived.notify_all()

    def finish(self, error: TransferFailed | None = None) -> None:
        """Mark the content complete, or broken off with `error` (writer side)."""
        with self._arrived:
            self._complete = True
            self._error = error
            self._arrived.notify_all()

    def readable(self) -> bool:
        """Always: this file is for reading."""
        return True

    def seekable(self) -> bool:
        """Always: any position may be read, once it has arrived."""
        return True

    def tell(self) -> int:
        """The position the next read starts at."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the read position; from the end, only once the content is complete."""
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        else:
            with self._arrived:
                self._arrived.wait_for(lambda: self._complete)
            self._position = self._size + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Read what has arrived at the current position, waiting while nothing has."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._size > self._position or self._complete)
            if self._error is not None:
                raise self._error
            available = self._size - self._position
        if available <= 0:
            return 0
        data = os.pread(self._fd, min(len(buffer), available), self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        """Release the spool; a reader still waiting is told the transfer ended."""
        if not self.closed:
            self.finish(self._error or TransferFailed("the file was closed before it was read"))
            self._spool.close()
        super().close()
