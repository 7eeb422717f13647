"""``make wait``: until the web server that ``make run &`` is starting answers /readyz (its
database and Redis reachable), for the README's "Try it" and for scripts.

The first ``make run`` installs everything before it starts anything, so this waits up to
WAIT_TIMEOUT seconds (300) and then says what it saw last. Standard library only: it runs on
the machine's Python, before the virtual environment exists.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz"
    timeout = float(os.environ.get("WAIT_TIMEOUT", "300"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    deadline = time.monotonic() + timeout
    last = "nothing answered"
    while True:
        try:
            with opener.open(url, timeout=5):
                print(f"ready: {url}", flush=True)
                return 0
        except urllib.error.HTTPError as error:  # 503 names the dependency not reachable yet
            last = f"{error.code} {error.read().decode(errors='replace').strip()}"
        except OSError:
            last = "nothing answered"
        if time.monotonic() >= deadline:
            print(f"make wait: {url} not ready after {timeout:g} s ({last})", file=sys.stderr)
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
