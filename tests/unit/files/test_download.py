"""The official-file download, against a local fake hub (no network)."""
from __future__ import annotations

import pytest

from faceclip_core.files.download import OFFICIAL_REPO, download_official
from faceclip_core.errors import FaceCLIPError
from fake_hub import fake_hub


def test_download_lands_under_its_name_with_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    payload = bytes(range(256)) * 4096  # 1 MiB
    seen = []
    with fake_hub({f"{OFFICIAL_REPO}/model/face_clip_encoder.pt": payload}) as endpoint:
        path = download_official("face_clip_encoder.pt", tmp_path / "faceclip", progress=lambda done, total: seen.append((done, total)), endpoint=endpoint)
    assert path == tmp_path / "faceclip" / "face_clip_encoder.pt"
    assert path.read_bytes() == payload
    assert seen and seen[-1] == (len(payload), len(payload))
    assert sorted(p.name for p in path.parent.iterdir()) == ["face_clip_encoder.pt"]  # no staging left


def test_failed_download_says_what_to_do(tmp_path):
    with fake_hub({}) as endpoint:
        with pytest.raises(FaceCLIPError, match=r"Could not download model/unet.pt .* put it in .*faceclip as unet.pt"):
            download_official("unet.pt", tmp_path / "faceclip", endpoint=endpoint)
    assert not (tmp_path / "faceclip" / "unet.pt").exists()
    with pytest.raises(FaceCLIPError, match="unknown official file"):
        download_official("vae.pt", tmp_path)


def test_download_cli_places_files_where_the_workflows_look(tmp_path, monkeypatch, capsys):
    from faceclip_core.files import download as download_module
    from faceclip_core.cli import main as cli_main

    files = {f"{OFFICIAL_REPO}/model/face_clip_encoder.pt": b"encoder", f"{OFFICIAL_REPO}/model/unet.pt": b"unet"}
    with fake_hub(files) as endpoint:
        real = download_module.download_official
        monkeypatch.setattr("faceclip_core.cli.download.download_official",
                            lambda *a, **k: real(*a, **{**k, "endpoint": endpoint}))
        assert cli_main(["download", "--models-dir", str(tmp_path)]) == 0
        assert (tmp_path / "faceclip" / "face_clip_encoder.pt").read_bytes() == b"encoder"
        assert (tmp_path / "unet" / "faceclip_unet.pt").read_bytes() == b"unet"
        assert cli_main(["download", "--models-dir", str(tmp_path), "--only", "unet"]) == 0
    assert "exists; skipped" in capsys.readouterr().out


def test_an_unreachable_hub_fails_at_once_without_retries(tmp_path, caplog):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(FaceCLIPError, match="Could not download model/unet.pt .*Connect.*Check the connection"):
        download_official("unet.pt", tmp_path / "unet", endpoint=endpoint)
    assert "Retrying" not in caplog.text
    assert not (tmp_path / "unet").exists()


def test_a_short_download_is_refused_and_its_staging_folder_removed(tmp_path, monkeypatch):
    import huggingface_hub

    original = huggingface_hub.hf_hub_download

    def cut_short(*args, **kwargs):  # a transfer that ended early without an error
        path = original(*args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(100)
        return path

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cut_short)  # download_official imports it when called
    with fake_hub({f"{OFFICIAL_REPO}/model/unet.pt": bytes(4096)}) as endpoint:
        with pytest.raises(FaceCLIPError, match="the file has 100 bytes, the hub says 4,096; it was cut short"):
            download_official("unet.pt", tmp_path / "unet", endpoint=endpoint)
    assert list((tmp_path / "unet").iterdir()) == []  # no staging folder, no half file


class OldHostInterrupt(Exception):
    """ComfyUI 0.3.64's InterruptProcessingException."""


class NewHostInterrupt(BaseException):
    """ComfyUI 0.38.x's InterruptProcessingException."""


@pytest.mark.parametrize("interrupt", [OldHostInterrupt, NewHostInterrupt])
def test_a_cancel_raised_by_the_progress_callback_ends_the_download_as_itself_on_both_hosts(tmp_path, interrupt):
    def cancel(done, total):
        raise interrupt()

    with fake_hub({f"{OFFICIAL_REPO}/model/face_clip_encoder.pt": bytes(1 << 20)}) as endpoint:
        with pytest.raises(interrupt) as raised:
            download_official("face_clip_encoder.pt", tmp_path / "faceclip", progress=cancel, endpoint=endpoint)
    assert not isinstance(raised.value, FaceCLIPError)  # the host's interrupt, not a "could not download" error
    assert list((tmp_path / "faceclip").iterdir()) == []  # no file, no staging folder
