"""A local HTTP server for download tests and benchmarks: serves a folder on 127.0.0.1, honours Range requests
(reading only the bytes asked for), records them, can drop a transfer after ``cut`` bytes, and can wait
``delay`` seconds before each answer, as a distant server's round trip would."""

import http.server
import threading
import time
from contextlib import contextmanager
from pathlib import Path


class Server(http.server.ThreadingHTTPServer):
    """Serves ``root``; honours Range requests (unless ``ranges`` is False); records them; can drop the first
    transfer after ``cut`` bytes; waits ``delay`` seconds before each answer."""

    def __init__(self, root: Path):
        self.root, self.requests, self.cut, self.ranges, self.delay = root, [], None, True, 0.0
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body=True):
        server: Server = self.server
        path = server.root / self.path.lstrip("/")
        server.requests.append((self.path, self.headers.get("Range")))
        time.sleep(server.delay)
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        partial = bool(self.headers.get("Range")) and server.ranges  # as S3: any satisfiable Range gets a 206
        if partial:  # bytes=START- or bytes=START-END (inclusive)
            first, _, last = self.headers["Range"].split("=")[1].partition("-")
            start, end = int(first), min(int(last), end) if last else end
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end + 1 - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end + 1 - start)
        if server.cut is not None:
            data, server.cut = data[: server.cut], None
        self.wfile.write(data)


@contextmanager
def serve(root: Path):
    srv = Server(Path(root))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
