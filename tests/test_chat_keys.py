#!/usr/bin/env python3
"""test_chat_keys.py — `lmc chat` on a terminal (a pseudo-terminal from the pty module), with the
keys a user presses, on the default model:
- Ctrl-C during a reply stops that reply ("[reply interrupted]", far fewer tokens than -n), the
  prompt comes back and the next message gets a reply (turn 2);
- Ctrl-C at the prompt clears the typed line: "garbage" + Ctrl-C, then "/reset" runs the command
  (it would be sent as the message "garbage/reset" otherwise);
- Ctrl-C twice in a row at the prompt quits (exit 0), the output ending with a newline;
- Ctrl-D at the prompt quits (exit 0) with a newline.
Skips (77) when the default model is not in the cache."""
import os
import pty
import re
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, require_default_model  # noqa: E402

N_PREDICT = 400


class Term:
    """lmc chat on a pseudo-terminal: write keys, wait for text, wait for the exit."""

    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(lmc_bin(), [lmc_bin(), "chat", "--temp", "0", "-t", "2", "-c", "1024", *args])
        self.out = b""
        self.status = None

    def text(self):
        return self.out.decode("utf-8", "replace")

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if not r:
                continue
            try:
                d = os.read(self.fd, 4096)
            except OSError:
                return
            if not d:
                return
            self.out += d

    def wait_for(self, pattern, timeout=60, start=0):
        """Waits until the output after byte `start` matches pattern; returns the match or None."""
        end = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < end:
            m = rx.search(self.text()[start:])
            if m:
                return m
            self.pump(0.1)
            if self.exited():
                return rx.search(self.text()[start:])
        return None

    def exited(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
        return self.status is not None

    def wait_exit(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            self.pump(0.1)
            if self.exited():
                self.pump(0.2)
                return os.waitstatus_to_exitcode(self.status)
        return None

    def send(self, data):
        os.write(self.fd, data)

    def kill(self):
        if not self.exited():
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)


def main():
    require_default_model()

    # Ctrl-C during a reply; Ctrl-C at the prompt clears the line; Ctrl-D quits.
    t = Term("-n", str(N_PREDICT))
    try:
        check(t.wait_for(r"> $", 120) is not None, "the prompt appears")
        mark = len(t.text())
        t.send(b"Tell me a very long story about a brave knight and a dragon.\r")
        # a few words of the reply, then Ctrl-C
        m = t.wait_for(r"dragon\.\r\n(\S+\s+){3}", 120, mark)
        check(m is not None, "the reply streams")
        t.send(b"\x03")
        m = t.wait_for(r"\[reply interrupted\][\s\S]*\[turn 1: .*?(\d+) generated[\s\S]*> $", 30, mark)
        check(m is not None, f"Ctrl-C stops the reply and the prompt comes back: {t.text()[mark:]!r}")
        if m:
            check(int(m.group(1)) < N_PREDICT // 2, f"the reply stopped early ({m.group(1)} of {N_PREDICT} tokens)")
        check(not t.exited(), "chat is still running after Ctrl-C in a reply")

        mark = len(t.text())
        t.send(b"garbage")
        t.pump(0.3)
        t.send(b"\x03")
        m = t.wait_for(r"Ctrl-C again to quit[\s\S]*> $", 10, mark)
        check(m is not None, f"Ctrl-C at the prompt: a hint and a new prompt: {t.text()[mark:]!r}")
        t.send(b"/reset\r")
        check(t.wait_for(r"\[conversation reset\]", 10, mark) is not None,
              f"the cleared line does not reach the next one: {t.text()[mark:]!r}")
        check("[turn 2" not in t.text(), "nothing was sent as a message")

        mark = len(t.text())
        t.send(b"Say hello.\r")
        check(t.wait_for(r"\[turn 2: [\s\S]*> $", 120, mark) is not None, "the next message gets a reply")

        t.pump(0.2)
        t.send(b"\x04")
        rc = t.wait_exit()
        check(rc == 0, f"Ctrl-D quits with exit 0 (got {rc})")
        check(t.text().endswith("\n"), f"Ctrl-D leaves a newline: {t.text()[-20:]!r}")
    finally:
        t.kill()

    # Ctrl-C twice at the prompt quits.
    t = Term()
    try:
        check(t.wait_for(r"> $", 120) is not None, "the prompt appears (second session)")
        t.send(b"\x03")
        check(t.wait_for(r"Ctrl-C again to quit[\s\S]*> $", 10) is not None, "first Ctrl-C: a hint")
        check(not t.exited(), "one Ctrl-C at the prompt does not quit")
        t.send(b"\x03")
        rc = t.wait_exit()
        check(rc == 0, f"the second Ctrl-C in a row quits with exit 0 (got {rc})")
        check(t.text().endswith("\n"), f"quitting leaves a newline: {t.text()[-20:]!r}")
    finally:
        t.kill()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
