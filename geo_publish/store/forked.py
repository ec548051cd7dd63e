"""Write an Arrow stream in a forked child process.

pyogrio holds the GIL while GDAL writes a batch, so a writer thread and the pipeline's
processing thread take turns instead of running side by side. A child forked before any thread
starts writes what the parent streams to it over a pipe (Arrow IPC), on the other core.

Forking is only safe in a process with a single thread (a lock held by another thread at that
moment would stay locked in the child forever); ``usable()`` says so, and callers fall back to
writing in-process. The child dies with its parent (PR_SET_PDEATHSIG), so a killed ingest never
leaves a writer behind, and it reports a failure as one line on a second pipe.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pyarrow as pa

_PR_SET_PDEATHSIG = 1


class ChildFailed(Exception):
    """The child process could not write; ``str()`` is its one-line reason."""


def usable() -> bool:
    """Linux, and no Python thread but this one.

    Native threads are not counted: numpy's OpenBLAS and pyarrow's jemalloc start one at import
    and both libraries handle fork; the pools of GDAL and Arrow only work while a Python thread
    waits on them, so with one Python thread here, they are idle and hold no lock.
    """
    if os.environ.get("GEO_PUBLISH_NO_FORK"):
        return False
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:500]


def _send(sink: Any, stream: pa.RecordBatchReader, abort: Callable[[], None]) -> None:
    """Every batch of ``stream`` to the writer process as Arrow IPC, then end of file. A broken
    pipe means the writer stopped reading: its own reason is the one to give (the caller waits
    for it); anything else ends the writer, since a truncated stream must never be taken for a
    complete one."""
    try:
        with pa.ipc.new_stream(sink, stream.schema) as out:
            for batch in stream:
                out.write_batch(batch)
        sink.close()
    except (BrokenPipeError, pa.ArrowIOError) as err:
        if not (isinstance(err, BrokenPipeError) or "Broken pipe" in str(err)):
            abort()
            raise
    except BaseException:
        abort()
        raise


class ForkedSink:
    """``target(reader)`` runs in a child on the stream that ``write()`` feeds."""

    def __init__(self, target: Callable[[pa.RecordBatchReader], None]) -> None:
        data_r, data_w = os.pipe()
        err_r, err_w = os.pipe()
        parent = os.getpid()
        with warnings.catch_warnings():
            # Python counts native threads too (OpenBLAS's, jemalloc's): see usable() for why
            # forking is safe with one Python thread
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(data_w)
                os.close(err_r)
                _die_with_parent(parent)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us
                with os.fdopen(data_r, "rb") as src:
                    target(pa.ipc.open_stream(src))
                code = 0
            except BaseException as err:  # noqa: BLE001 - reported to the parent
                try:
                    os.write(err_w, _one_line(err).encode("utf-8", "replace"))
                except OSError:
                    pass
            finally:
                os._exit(code)
        os.close(data_r)
        os.close(err_w)
        self.pid: int | None = pid
        self._sink = os.fdopen(data_w, "wb")
        self._err = err_r

    def write(self, stream: pa.RecordBatchReader) -> None:
        """Send every batch, wait for the child to finish writing; ChildFailed if it could not."""
        _send(self._sink, stream, self.abort)
        self._wait()

    def _wait(self) -> None:
        if self.pid is None:
            return
        try:
            self._sink.close()
        except OSError:
            pass
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        with os.fdopen(self._err, "rb") as fh:
            reason = fh.read().decode("utf-8", "replace").strip()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise ChildFailed(reason or f"the writer process ended with status {code}")

    def abort(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self._sink.close()
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        self.pid = None
        os.close(self._err)


class SpawnedSink:
    """The same as ``ForkedSink``, in a new Python process (``python -m geo_publish.store.forked
    STORE LAYER GEOMETRY_TYPE`` reading Arrow IPC on its standard input): where forking is not
    safe (other threads run) or not wanted (``GEO_PUBLISH_NO_FORK``). The store's GeoPackage is
    never written by GDAL in the process that reads it through sqlite3."""

    def __init__(self, args: list[str]) -> None:
        import subprocess
        import tempfile

        self._errors = tempfile.TemporaryFile()  # a pipe could fill while we write the data
        # no preexec_fn: Python code between fork and exec can wait forever on a lock another
        # thread of this process held at the fork (it hung an ingest in the suite); the child
        # arranges to die with us itself, first thing
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "geo_publish.store.forked", *args], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=self._errors,
            env={**os.environ, "GEO_PUBLISH_WRITER_PARENT": str(os.getpid())})

    def write(self, stream: pa.RecordBatchReader) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        _send(self.proc.stdin, stream, self.abort)
        code = self.proc.wait()
        self.proc = None
        self._errors.seek(0)
        lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        self._errors.close()
        if code != 0:
            raise ChildFailed(lines[-1] if lines else f"the writer process ended with status {code}")

    def abort(self) -> None:
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None


if __name__ == "__main__":  # the spawned writer: STORE LAYER GEOMETRY_TYPE [no-index], Arrow IPC on stdin
    if os.environ.get("GEO_PUBLISH_WRITER_PARENT", "").isdigit():
        _die_with_parent(int(os.environ["GEO_PUBLISH_WRITER_PARENT"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us
    try:
        from geo_publish.store.gpkg import write_arrow

        write_arrow(sys.argv[1], sys.argv[2], sys.argv[3], pa.ipc.open_stream(sys.stdin.buffer),
                    spatial_index=sys.argv[4:5] != ["no-index"])
    except BaseException as err:  # noqa: BLE001 - one line for the parent
        print(_one_line(err), file=sys.stderr)
        sys.exit(1)
