"""A local HTTP server for download tests: serves a folder on 127.0.0.1, honours Range requests, records them,
and can drop a transfer after ``cut`` bytes."""

import http.server
import threading
from contextlib import contextmanager
from pathlib import Path


class Server(http.server.ThreadingHTTPServer):
    """Serves ``root``; honours Range requests (unless ``ranges`` is False); records them; can drop the first
    transfer after ``cut`` bytes."""

    def __init__(self, root: Path):
        self.root, self.requests, self.cut, self.ranges = root, [], None, True
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: Server = self.server
        path = server.root / self.path.lstrip("/")
        server.requests.append((self.path, self.headers.get("Range")))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        partial = bool(self.headers.get("Range")) and server.ranges  # as S3: any satisfiable Range gets a 206
        if partial:  # bytes=START- or bytes=START-END (inclusive)
            first, _, last = self.headers["Range"].split("=")[1].partition("-")
            start, end = int(first), min(int(last), end) if last else end
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        body = data[start:end + 1]
        if server.cut is not None:
            body, server.cut = body[: server.cut], None
        self.wfile.write(body)


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
