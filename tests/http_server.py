"""A local HTTP server for download tests: serves a folder on 127.0.0.1, honours Range requests, records them,
and can drop a transfer after ``cut`` bytes."""

import http.server
import threading
from contextlib import contextmanager
from pathlib import Path


class Server(http.server.ThreadingHTTPServer):
    """Serves ``root``; honours Range requests; records them; can drop the first transfer after ``cut`` bytes."""

    def __init__(self, root: Path):
        self.root, self.requests, self.cut = root, [], None
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
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
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
