"""lmctest.py — what the Python tests share: finding build/lmc, ../shared and the default model in the
lmc cache, skipping with exit 77, counting checks ("N passed, N failed") and starting `lmc serve` on a
free port and sending it plain HTTP requests. Not a test itself (ctest runs only tests/test_*.py); it holds no assertions of its own.
Tests import it with their own folder on sys.path."""
import collections
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"

passed = failed = 0


def check(cond, what):
    """Counts one assertion; a failed one is printed at once (flushed: the server tests run threads)."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)


def finish():
    """Prints the summary line ctest's logs are read by and returns the exit code."""
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def skip(why):
    print("SKIP:", why)
    sys.exit(SKIP)


def source_dir():
    return os.environ.get("LMC_SOURCE_DIR") or os.path.dirname(TESTS_DIR)


def lmc_bin():
    """Path of the lmc binary (env LMC_BIN, set by CMake; else build/lmc); skips when it is missing."""
    lmc = os.environ.get("LMC_BIN") or os.path.join(source_dir(), "build", "lmc")
    if not os.path.exists(lmc):
        skip(f"the lmc binary is missing ({lmc}); set LMC_BIN or build it")
    return lmc


def shared_root():
    """The shared test data folder: env LMC_SHARED (set by CMake), else ../shared next to the repository."""
    return os.environ.get("LMC_SHARED") or os.path.join(source_dir(), "..", "shared")


def shared_dir(*sub):
    """The folder sub below the shared test data; skips when it is absent."""
    path = os.path.join(shared_root(), *sub)
    if not os.path.isdir(path):
        skip(f"the shared test data folder {path} is absent")
    return path


def cache_dir():
    """$LMC_CACHE, else $XDG_CACHE_HOME/lmc, else ~/.cache/lmc: the rule of the lmc command and
    scripts/fetch-model.sh."""
    cache = os.environ.get("LMC_CACHE")
    if not cache:
        xdg = os.environ.get("XDG_CACHE_HOME")
        cache = os.path.join(xdg, "lmc") if xdg else os.path.expanduser("~/.cache/lmc")
    return cache


def default_model():
    return os.path.join(cache_dir(), DEFAULT_MODEL)


def require_default_model():
    """The default model's path; skips when it is not in the cache."""
    model = default_model()
    if not os.path.exists(model):
        skip(f"the default model is not in the cache ({model}); run scripts/fetch-model.sh")
    return model


def start_server(extra, n_ctx=512):
    """Starts lmc serve on port 0 (the server picks a free one and prints it); returns (proc, port).
    proc.log_tail keeps the last lines of its stderr, to show when a test fails."""
    args = [lmc_bin(), "serve", "--host", "127.0.0.1", "--port", "0", "-c", str(n_ctx), "-t", "2"] + extra
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port, lines = None, []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        print("".join(lines))
        raise SystemExit("lmc serve did not start")
    # keep draining stderr so the server never blocks on a full pipe; the tail is shown on failure
    proc.log_tail = collections.deque(lines, maxlen=60)
    threading.Thread(target=lambda: [proc.log_tail.append(x) for x in proc.stderr], daemon=True).start()
    return proc, port


def http_request(port, method, path, body=None, headers=None, key=None, timeout=120):
    """One plain HTTP request to 127.0.0.1:port (a dict or list body is sent as JSON; key: a bearer
    token); returns (status, the body parsed as JSON or else as text, the headers)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Authorization": f"Bearer {key}"} if key else {}
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    try:
        data = json.loads(data)
    except ValueError:
        pass
    return r.status, data, dict(r.getheaders())
