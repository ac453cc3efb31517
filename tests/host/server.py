"""Run a real ComfyUI headless on CPU with this pack installed, and drive it over its HTTP API.

Everything the host writes or reads (custom_nodes, models, input, output, user data) lives under one
`base_dir` given with `--base-directory`, so the ComfyUI checkout itself is never modified.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

PACK_DIR = Path(__file__).resolve().parents[2]
PACK_NAME = "comfyui-faceclip"
# test-only nodes (a conditioning probe), linked beside the pack
PROBE_NAME, PROBE_DIR = "faceclip-test-probe", Path(__file__).resolve().parent / "probe_nodes"


@dataclass
class RunResult:
    """How one prompt ended. status: "success", "execution_error" (a node raised while running), "interrupted"
    (stopped by the cancel button) or "rejected" (the host refused the graph before running it, e.g. a missing
    input or unknown file)."""

    status: str
    outputs: dict[str, dict] = field(default_factory=dict)
    error: str = ""  # the node's own message for execution_error, the host's validation text for rejected
    node_type: str = ""  # the failing node's class, where the host names one
    exception_type: str = ""  # for execution_error: the exception's class, with its module unless a builtin


class ComfyServer:
    # How long one HTTP request may wait: the host answers between the steps of a run, which on a CPU shared by
    # several test runs can take more than a few seconds.
    HTTP_TIMEOUT_S = 120

    def __init__(self, url: str, base_dir: Path, log_path: Path) -> None:
        self.url = url
        self.base_dir = base_dir
        self.log_path = log_path

    @property
    def models_dir(self) -> Path:
        return self.base_dir / "models"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get_json(self, path: str) -> Any:
        with urlopen(self.url + path, timeout=self.HTTP_TIMEOUT_S) as response:
            return json.load(response)

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """(HTTP status, decoded body), error statuses included."""
        request = Request(self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urlopen(request, timeout=self.HTTP_TIMEOUT_S) as response:
                return response.status, json.load(response)
        except HTTPError as error:
            with error:
                return error.code, json.load(error)

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """All node definitions, or one node's (keyed by its class name) when `node_class` is given."""
        return self.get_json("/object_info" + (f"/{node_class}" if node_class else ""))

    def dropdown(self, node_class: str, input_name: str) -> list[str]:
        """The choices the host offers for a combo input (e.g. the files of a models folder)."""
        inputs = self.object_info(node_class)[node_class]["input"]
        spec = {**inputs.get("required", {}), **inputs.get("optional", {})}[input_name]
        # old style: [[choices...], options]; schema API: ["COMBO", {"options": [...]}]
        return spec[0] if isinstance(spec[0], list) else spec[1]["options"]

    def run(self, graph: dict[str, Any], timeout_s: float = 120.0) -> RunResult:
        """Queue an API-format graph and wait, at most `timeout_s`, for it to finish."""
        queued = self.queue(graph)
        return queued if isinstance(queued, RunResult) else self.wait(queued, timeout_s)

    def queue(self, graph: dict[str, Any]) -> str | RunResult:
        """The prompt id of the queued graph, or the host's rejection."""
        status, body = self.post_json("/prompt", {"prompt": graph})
        return body["prompt_id"] if status == 200 else _rejection(body)

    def wait(self, prompt_id: str, timeout_s: float = 120.0) -> RunResult:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry:  # the host files a prompt in its history once it has finished, well or not
                return _result_from_history(entry)
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout_s:.0f}s; host log tail:\n{self.log_text()[-3000:]}")

    def interrupt(self) -> None:
        """What the UI's cancel button does: stop the running prompt."""
        request = Request(self.url + "/interrupt", data=b"", method="POST")
        with urlopen(request, timeout=self.HTTP_TIMEOUT_S):
            pass

    def output_images(self, result: RunResult, prefix: str = "") -> list[Path]:
        """Files of every image the prompt's output nodes saved (those whose names start with `prefix`)."""
        return [
            self.output_dir / image.get("subfolder", "") / image["filename"]
            for output in result.outputs.values()
            for image in output.get("images", [])
            if image.get("type") == "output" and image["filename"].startswith(prefix)
        ]


def _rejection(body: dict[str, Any]) -> RunResult:
    messages = [body.get("error", {}).get("message", "")]
    node_type = ""
    for node_error in body.get("node_errors", {}).values():
        node_type = node_error.get("class_type", node_type)
        messages += [f"{e.get('message', '')}: {e.get('details', '')}" for e in node_error.get("errors", [])]
    return RunResult(status="rejected", error="\n".join(messages), node_type=node_type)


def _result_from_history(entry: dict[str, Any]) -> RunResult:
    for event, data in entry["status"].get("messages", []):
        if event == "execution_error":
            return RunResult(status="execution_error", outputs=entry.get("outputs", {}),
                             error=data.get("exception_message", ""), node_type=data.get("node_type", ""),
                             exception_type=data.get("exception_type", ""))
        if event == "execution_interrupted":
            return RunResult(status="interrupted", outputs=entry.get("outputs", {}), node_type=data.get("node_type", ""))
    return RunResult(status="success", outputs=entry.get("outputs", {}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(process: subprocess.Popen, server: ComfyServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ComfyUI exited with {process.returncode}; log tail:\n{server.log_text()[-3000:]}")
        try:
            server.get_json("/object_info")  # served only once every node pack has been imported
            return
        except OSError:  # not listening yet (URLError, connection reset)
            time.sleep(0.5)
    raise TimeoutError(f"ComfyUI did not serve /object_info in {timeout_s:.0f}s; log tail:\n{server.log_text()[-3000:]}")


@contextmanager
def start_comfy_server(comfy_path: Path, base_dir: Path, extra_args: tuple[str, ...] = (),
                       startup_timeout_s: float = 180.0, python: str = sys.executable) -> Iterator[ComfyServer]:
    """Start `comfy_path/main.py` on CPU with this pack (and the test probe nodes) linked into
    `base_dir/custom_nodes` (unless a folder of that name is there already); models come from `base_dir/models`.
    Stops the server on exit. Runs in `python`, by default this interpreter, so run it from the host venv."""
    (base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base_dir / "models").mkdir(exist_ok=True)
    for name, target in ((PACK_NAME, PACK_DIR), (PROBE_NAME, PROBE_DIR)):
        link = base_dir / "custom_nodes" / name
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    port = free_port()
    server = ComfyServer(f"http://127.0.0.1:{port}", base_dir, base_dir / "comfyui.log")
    command = [python, str(comfy_path / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
               "--disable-auto-launch", "--base-directory", str(base_dir),
               # its default database lives in the checkout; keep the checkout untouched
               "--database-url", "sqlite:///:memory:", *extra_args]
    with server.log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=comfy_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(process, server, startup_timeout_s)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
