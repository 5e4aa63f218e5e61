"""A minimal OpenAI-compatible completions server for a model folder (POST /v1/completions with
prompt, max_tokens, temperature 0 => greedy). It stands in for a host in tests and demos; the
platform's real host is services/host-gateway. `python3 -m clopen_fp.serve --model DIR --port 8000`."""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from . import gpt


def make_server(model_dir, host="127.0.0.1", port=0, model_name=None):
    model, tok, _ = gpt.load_folder(model_dir)
    lock = threading.Lock()
    name = model_name or model_dir.rstrip("/").split("/")[-1]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep stdout for the JSON-lines protocol
            pass

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path.rstrip("/") not in ("/v1/completions", "/completions"):
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                prompt = req["prompt"]
                n = int(req.get("max_tokens", 16))
                if not isinstance(prompt, str) or n < 1 or n > 512:
                    raise ValueError("prompt must be a string and max_tokens between 1 and 512")
            except (ValueError, KeyError, json.JSONDecodeError) as e:
                return self._send(400, {"error": {"message": f"bad request: {e}"}})
            with lock, torch.no_grad():
                ids = gpt.greedy(model, [[tok.eot] + tok.encode(prompt)], n)[0]
            self._send(200, {"object": "text_completion", "model": name, "choices": [{"index": 0, "text": tok.decode(ids), "finish_reason": "length"}]})

    return ThreadingHTTPServer((host, port), Handler)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args()
    srv = make_server(a.model, a.host, a.port)
    print(json.dumps({"type": "log", "message": f"serving {a.model} on http://{a.host}:{srv.server_address[1]}/v1/completions"}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
