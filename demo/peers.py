"""The demo's other parties: a registry that hears the pod leave, and a client mid-download.

peers.py registry PORT        serve POST /deregister on 127.0.0.1:PORT, print what arrives
peers.py download URL FLAG    download URL slowly, touch FLAG when bytes flow, print the result
"""

import http.server
import sys
import time
import urllib.request


class Registry(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        print(f"registry: {self.path} {body.decode()}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


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
    if sys.argv[1] == "registry":
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Registry).serve_forever()
    else:
        download(sys.argv[2], sys.argv[3])
