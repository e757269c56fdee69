"""Model resolution: --model, $CUEWATCH_MODEL, cache, download; wrong files refused."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cuewatch.errors import ModelError
from cuewatch.faces import model as model_mod
from cuewatch.faces.model import MODEL_SHA256, fetch_model, find_model


def test_pinned_model_checks_out(model_path: Path) -> None:
    loc = find_model(model_path)
    assert loc is not None and loc.sha256 == MODEL_SHA256 and loc.source == "--model"


def test_order_explicit_env_cache(model_path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CUEWATCH_MODEL", str(model_path))
    assert find_model().source == "CUEWATCH_MODEL"
    monkeypatch.delenv("CUEWATCH_MODEL")
    monkeypatch.setattr(model_mod, "cache_path", lambda: tmp_path / "cache" / "face_landmarker.task")
    assert find_model() is None
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "face_landmarker.task").write_bytes(model_path.read_bytes())
    assert find_model().source == "cache"


def test_wrong_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"not the model" * 100)
    with pytest.raises(ModelError, match="not the pinned face model"):
        find_model(fake)
    monkeypatch.setenv("CUEWATCH_MODEL", str(fake))
    with pytest.raises(ModelError, match="CUEWATCH_MODEL"):
        find_model()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def local_server(tmp_path: Path):
    """A loopback HTTP server standing in for the official address (no internet here)."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_hash_and_moves_atomically(model_path: Path, local_server, tmp_path: Path) -> None:
    root, base = local_server
    (root / "good.task").write_bytes(model_path.read_bytes())
    (root / "bad.task").write_bytes(b"tampered" * 1000)
    dest = tmp_path / "cache" / "face_landmarker.task"
    seen = []
    from cuewatch.progress import Progress
    loc = fetch_model(f"{base}/good.task", dest, Progress(lambda f, m: seen.append(f)))
    assert loc.path == dest and loc.sha256 == MODEL_SHA256
    assert seen and seen[-1] == pytest.approx(1.0)
    dest2 = tmp_path / "cache2" / "face_landmarker.task"
    with pytest.raises(ModelError, match="expected"):
        fetch_model(f"{base}/bad.task", dest2)
    assert not dest2.exists() and list(dest2.parent.iterdir()) == []  # nothing half-written


def test_offline_message_names_address_and_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CUEWATCH_MODEL", raising=False)
    monkeypatch.setattr(model_mod, "cache_path", lambda: tmp_path / "m" / "face_landmarker.task")
    monkeypatch.setattr(model_mod, "MODEL_URL", "http://127.0.0.1:9/face_landmarker.task")
    with pytest.raises(ModelError) as err:
        fetch_model(model_mod.MODEL_URL, model_mod.cache_path())
    text = str(err.value)
    assert "127.0.0.1:9" in text and "CUEWATCH_MODEL" in text
    assert "\n" not in text


def test_model_command(model_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "model", "--model", str(model_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and MODEL_SHA256 in proc.stdout and "ok" in proc.stdout
