"""Real-host test harness: run ComfyUI headless with this pack and drive it over HTTP.

- `host.fixtures`: pytest fixtures `comfy_path` and `comfy_server` (skip without COMFYUI_PATH).
- `host.server`: `start_comfy_server(...)` context manager, `ComfyServer.run(graph) -> RunResult`.
- `host.in_process`: `import_host_module(comfy_path, name)` to read host code from a test.
- `host.graphs`: API-format graphs made of core nodes.
- `host.fuzz`: hostile changes of the pack nodes' inputs in a graph, and how the host's answer is judged.
Set up a host with tests/host/setup_test_host.sh.
"""
