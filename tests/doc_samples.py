"""Small documents made at test time: a hand-written PDF, Markdown, HTML, and a local HTTP
server on loopback that serves pages (normal, slow, large, missing) for URL indexing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKDOWN = """# Field guide

Intro paragraph about birds.

## Owls

Owls hunt at night. Their feathers are silent in flight.

```
# not a heading: a comment in code
```

### Barn owl

The barn owl has a heart-shaped face.

Herons
------

Herons wade in shallow water and spear fish.
"""

HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Kettle manual</title>
<script>alert("never indexed")</script><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/shop">Shop</a></nav>
<header>ACME site header</header>
<main><article><h1>Kettle manual</h1><p>Fill the kettle with cold water &amp; press the switch.</p>
<h2>Descaling</h2><p>Descale the kettle monthly with white vinegar.</p>
<p hidden>Hidden coupon code</p><h2>Safety</h2><p>Never immerse the base in water.</p></article></main>
<footer>Copyright ACME</footer></body></html>"""


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A valid PDF with one Helvetica text page per entry (lines split on newlines)."""
    n = len(pages)
    objs: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        ops = " ".join(f"({_pdf_escape(line)}) '" for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 14 TL 72 740 Td {ops} ET"
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream".encode())
    info = None
    if title:
        objs.append(f"<< /Title ({_pdf_escape(title)}) >>".encode())
        info = len(objs)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    trailer = f"<< /Size {len(objs) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        pages = self.server.pages
        path = self.path.split("?")[0]
        if path == "/slow":
            # answer only when the test is over: the client's timeout fires first on any machine
            self.server.release.wait(120)
        if path not in pages:
            self.send_error(404, "Not Found")
            return
        ctype, body = pages[path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (size cap, timeout)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    pages: dict[str, tuple[str, bytes]]
    release: threading.Event


class PageServer:
    """`with PageServer({"/a": ("text/html", b"...")}) as url:` serves the pages on 127.0.0.1;
    `/slow` answers only after the block ends, so a client's timeout always fires first."""

    def __init__(self, pages: dict[str, tuple[str, bytes]]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.pages, self._server.release = pages, threading.Event()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
