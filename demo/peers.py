"""The demo's other party: a client mid-download.

peers.py download URL FLAG    download URL slowly, touch FLAG when bytes flow, print the result
"""

import sys
import time
import urllib.request


def download(url: str, flag: str) -> None:
    started = time.monotonic()
    got = 0
    with urllib.request.urlopen(url, timeout=30) as response:
        expected = int(response.headers["Content-Length"])
        while chunk := response.read(16384):
            if not got:
                open(flag, "w").close()
                print(f"client: downloading {expected} bytes, slowly", flush=True)
            got += len(chunk)
    verdict = "complete" if got == expected else "CUT SHORT"
    print(f"client: got {got} of {expected} bytes in {time.monotonic() - started:.1f}s: {verdict}",
          flush=True)
    sys.exit(0 if got == expected else 1)


if __name__ == "__main__":
    download(sys.argv[2], sys.argv[3])
