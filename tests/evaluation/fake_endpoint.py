"""A scripted OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 answering from a function.

`reply(body)` returns a `Reply`: an assistant turn (sent as SSE chunks when the request streams,
with the tool call's name and arguments split over several deltas, or as one JSON body), an error
status with headers, or raw bytes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, raw arguments)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def _chunks(reply: Reply) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.content:
        half = len(reply.content) // 2
        out += [chunk({"content": reply.content[:half]}), chunk({"content": reply.content[half:]})]
    for i, (name, args) in enumerate(reply.tool_calls):
        half = len(args) // 2
        out.append(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                          "function": {"name": name, "arguments": args[:half]}}]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    out.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
    return out


def _message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(reply.tool_calls)]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class FakeEndpoint:
    def __init__(self, reply: Callable[[dict[str, Any]], Reply]):
        self.reply, self.requests = reply, 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests += 1
                endpoint.respond(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        reply = self.reply(body)
        if reply.raw is not None or reply.status != 200:
            data = reply.raw if reply.raw is not None else json.dumps(
                {"error": {"message": "scripted", "type": "server_error", "param": None, "code": None}}).encode()
            h.send_response(reply.status)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if body.get("stream"):
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in _chunks(reply)) + "data: [DONE]\n\n"
            ctype = "text/event-stream"
        else:
            data, ctype = json.dumps(_message(reply)), "application/json"
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data.encode())))
        h.end_headers()
        h.wfile.write(data.encode())

    def __enter__(self) -> FakeEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
