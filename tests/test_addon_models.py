"""The add-on's model choice in real headless Blender: the dropdown over the model store, the licence notice and
the model card, the chosen folder reaching (and restarting) the worker, and Import Official Model as a polled
background process that imports the fake official release and then generates with it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import bpy  # first: it puts Blender's own modules on the path
import pytest
from official_fixture import FIXTURE, STATS, TRANSFORMER, write_vit_l14_336
from test_addon import prefs, run_job, scene  # noqa: F401  (scene is a fixture)

from intermask_blender.client import job
from intermask_blender.seam import clip_file as clipmod
from intermask_blender.seam import model_store
from intermask_blender.ui import model_choice, preferences

pytestmark = pytest.mark.timeout(600)
OFFICIAL = "fixture-official"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """An empty model store for the whole module, in the environment the worker and the import inherit."""
    root = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(model_store.ENV_VAR, str(root / "models"))
        yield root / "models"


def _card_only(store: Path, name: str, **card: object) -> Path:
    folder = store / name
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"name": name, **card}))
    return folder


def _names() -> list[str]:
    return [item[0] for item in model_choice.model_items(None, bpy.context)]


def test_dropdown_offers_the_store_and_the_choice_reaches_the_worker(scene, store: Path) -> None:
    folder = _card_only(store, "cards-only", kind=model_store.OFFICIAL_KIND, non_commercial=True,
                        licence="NON-COMMERCIAL use only", licence_short="Non-commercial use only.")
    try:
        assert _names()[0] == model_store.BUILTIN and "cards-only" in _names()
        assert preferences.worker_config(bpy.context).checkpoint is None
        prefs().model = "cards-only"
        config = preferences.worker_config(bpy.context)
        assert config.checkpoint == folder and model_choice.selected(prefs().model).non_commercial
        assert bpy.ops.intermask.model_card(name="cards-only") == {"FINISHED"}
        text = bpy.data.texts[model_choice.CARD_TEXT].as_string()
        assert "LICENCE: NON-COMMERCIAL use only" in text and str(folder) in text
        model_store.remove_model("cards-only")
        assert prefs().model == "" and preferences.worker_config(bpy.context).checkpoint is None
    finally:
        prefs().model = model_store.BUILTIN
        if folder.exists():
            model_store.remove_model("cards-only")


def test_the_builtin_card_is_its_model_card(scene) -> None:
    assert bpy.ops.intermask.model_card(name=model_store.BUILTIN) == {"FINISHED"}
    assert "CMU" in bpy.data.texts[model_choice.CARD_TEXT].as_string()


def test_import_needs_its_three_inputs(scene, store: Path) -> None:
    prefs().import_release, prefs().import_clip, prefs().import_stats = "", "/nonexistent/clip.pt", str(STATS)
    with pytest.raises(RuntimeError, match=r"release folder not found: \(empty\); CLIP file not found"):
        bpy.ops.intermask.import_official()
    assert preferences._Tasks.official is None or not preferences._Tasks.official.running


def test_import_official_in_the_background_then_generate_with_it(scene, store: Path, tmp_path: Path) -> None:
    clip = write_vit_l14_336(tmp_path / "ViT-L-14-336px.pt")
    p = prefs()
    p.import_release, p.import_clip, p.import_stats, p.import_name = str(FIXTURE), str(clip), str(STATS), OFFICIAL
    assert p.import_transformer == "trans_default"
    p.import_transformer = TRANSFORMER                  # the fake release's folder name
    assert bpy.ops.intermask.import_official() == {"FINISHED"}
    deadline = time.monotonic() + 300
    while preferences._Tasks.official.running:
        assert time.monotonic() < deadline, "the import did not finish"
        preferences._poll_tasks()
        time.sleep(0.2)
    tail = "\n".join(preferences._Tasks.official.tail(10))
    assert preferences._Tasks.official.returncode == 0, tail
    assert "[5/5]" in tail and f"imported {OFFICIAL}" in tail and OFFICIAL in _names()

    settings = scene.intermask
    settings.own_sampler = False                        # the official model's own 20 steps, guidance 2
    assert bpy.ops.intermask.generate() == {"FINISHED"}
    run_job()
    builtin_pid = job._State.client.pid
    assert not settings.status_is_error, settings.status
    prefs().model = OFFICIAL
    try:
        assert bpy.ops.intermask.generate() == {"FINISHED"}
        run_job()
        assert not settings.status_is_error, settings.status
        assert job._State.client.pid != builtin_pid, "a new model restarts the worker"
        assert job._State.client.ready.model == OFFICIAL
        meta = clipmod.Clip.load(settings.results[0].name).meta
        assert meta["model"] == OFFICIAL and meta["steps"] == 20 and meta["guidance"] == 2.0
    finally:
        prefs().model = model_store.BUILTIN
