"""Run Python as close to Windows as this machine can: the POSIX-only modules cannot be imported
and the POSIX-only functions and signals are gone. Used by tests/test_platforms.py.

    python tests/windowslike.py -m edgejudge --help
    python tests/windowslike.py -c "import edgejudge"
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

# Modules that do not exist on Windows.
BLOCKED_MODULES = ("fcntl", "resource", "termios", "tty", "pty", "grp", "pwd", "posix", "syslog")
# os functions and signals that do not exist on Windows (os.sched_* are Linux-only, missing on macOS too).
# os.uname stays: sys.platform is still "linux" here, and libraries (numpy) call it on Linux only.
MISSING_OS = ("sched_getaffinity", "sched_setaffinity", "getuid", "geteuid", "getgid", "fork", "forkpty",
              "killpg", "getpgid", "setsid", "sysconf", "getloadavg", "nice", "statvfs")
MISSING_SIGNALS = ("SIGKILL", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGPIPE", "SIGCHLD")


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r} (not on Windows)", name=name)
        # Falling through (None) lets the next finder look the module up as usual.


def install() -> None:
    sys.meta_path.insert(0, _Blocker())
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED_MODULES and name != "posix":  # os itself is built on posix
            del sys.modules[name]
    for attr in MISSING_OS:
        if hasattr(os, attr):
            delattr(os, attr)
    for attr in MISSING_SIGNALS:
        if hasattr(signal, attr):
            delattr(signal, attr)


if __name__ == "__main__":
    install()
    if sys.argv[1] == "-m":
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    elif sys.argv[1] == "-c":
        code = sys.argv[2]
        sys.argv = ["-c", *sys.argv[3:]]
        exec(compile(code, "<windowslike>", "exec"), {"__name__": "__main__"})  # noqa: S102 - python -c, as is
    else:
        raise SystemExit("usage: windowslike.py -m MODULE ARGS | -c CODE")
