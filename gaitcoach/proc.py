"""Helpers for the child processes gaitcoach starts (brokers, buses, virtual pods)."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for children: SIGTERM when the parent dies, so none outlives a crash.

    Linux ties this to the thread that started the child: start long-lived children from the
    main thread or another long-lived one, not from a short-lived executor thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM a running child, wait up to ``timeout_s``, then SIGKILL; close its stdout pipe."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (retry if a child fails to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
