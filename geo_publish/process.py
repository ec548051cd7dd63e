"""The background processes beside the server's workers (the site builder, the job runner, the
mail sender): started below the workers in CPU and I/O priority, dying with the server, and
ended by SIGTERM, their work in progress abandoned (a site build's folder is removed, a job is
queued again by the next runner)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

NICE = 10


def _lower_priority() -> None:
    """Child-side set-up: below the workers for CPU and I/O; dies with the server."""
    os.nice(NICE)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan when serve is killed
        # ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_BE << 13 | 7): lowest best-effort I/O
        libc.syscall(251 if os.uname().machine == "x86_64" else 30, 1, 0, (2 << 13) | 7)
    except (OSError, AttributeError):
        pass


def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -m module args`` beside the server, below it in priority, dying with it."""
    return subprocess.Popen([sys.executable, "-m", module, *args], preexec_fn=_lower_priority,  # noqa: PLW1509
                            stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exit_on_sigterm() -> None:
    """In a background process: SIGTERM ends it at once (SystemExit, so ``finally`` blocks
    clean up); Ctrl-C is left to ``serve``, which stops it."""

    def on_term(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
