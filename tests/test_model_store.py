"""The user-data model store (stdlib only): where it is, what it lists, names, atomic publish and removal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vendor_models.motion import model_store as store


def _model(root: Path, name: str, **card: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / store.CARD_NAME).write_text(json.dumps({"name": name, **card}))
    return folder


def test_the_env_var_wins_and_the_default_is_a_user_data_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(store.ENV_VAR, str(tmp_path / "m"))
    assert store.models_dir() == tmp_path / "m"
    monkeypatch.delenv(store.ENV_VAR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(store.sys, "platform", "linux")
    assert store.models_dir() == tmp_path / "xdg" / "intermask" / "models"
    monkeypatch.setattr(store.sys, "platform", "darwin")
    assert store.models_dir() == Path.home() / "Library" / "Application Support" / "intermask" / "models"
    monkeypatch.setattr(store.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert store.models_dir() == tmp_path / "roaming" / "intermask" / "models"
    repo = Path(store.__file__).resolve().parents[2]
    assert repo not in store.models_dir().parents


def test_listing_skips_unfinished_and_cardless_folders(tmp_path: Path) -> None:
    _model(tmp_path, "b-model", kind=store.OFFICIAL_KIND, non_commercial=True, licence="non-commercial only")
    _model(tmp_path, "a-model")
    (tmp_path / ".importing-c-1234").mkdir()
    (tmp_path / "no-card").mkdir()
    entries = store.list_models(tmp_path)
    assert [e.name for e in entries] == ["a-model", "b-model"]
    assert entries[1].non_commercial and entries[1].kind == store.OFFICIAL_KIND and "non-commercial" in entries[1].licence
    assert not entries[0].non_commercial and entries[0].kind == "intermask"
    assert store.list_models(tmp_path / "missing") == []


def test_find_names_what_exists(tmp_path: Path) -> None:
    _model(tmp_path, "mine")
    assert store.find_model("mine", tmp_path).folder == tmp_path / "mine"
    assert store.find_model(store.BUILTIN).folder == store.builtin_folder()
    with pytest.raises(store.ModelStoreError, match="no model named 'other'.*available: builtin, mine"):
        store.find_model("other", tmp_path)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "builtin", "x" * 65, "sp ace"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(store.ModelStoreError, match="not allowed"):
        store.check_name(name)


def test_staging_then_publish_and_remove(tmp_path: Path) -> None:
    staging, final = store.staging_folder("new", tmp_path)
    assert staging.parent == tmp_path and staging.name.startswith(".") and not final.exists()
    (staging / store.CARD_NAME).write_text("{}")
    assert store.list_models(tmp_path) == []                  # unfinished: invisible
    store.publish(staging, final)
    assert [e.name for e in store.list_models(tmp_path)] == ["new"]
    with pytest.raises(store.ModelStoreError, match="already exists"):
        store.staging_folder("new", tmp_path)
    store.remove_model("new", tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(store.ModelStoreError, match="cannot be removed"):
        store.remove_model(store.BUILTIN, tmp_path)
