"""``intermask models import-official`` and ``check-official`` on the fake release, and every input they refuse.

The fixture release imports through the real command with a random ViT-L/14@336px-shaped CLIP; check-official
then recomputes every reference of the official code with the imported folder (exit 0), and exits 1 once one
weight in the folder is changed. Refusals are checked to leave the model store exactly as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from clip_fixtures import fake_clip_state, write_state_dict
from official_fixture import FAKE_CLIP_W64, FIXTURE, STATS, TRANSFORMER, import_fixture, models_cli, write_vit_l14_336

from vendor_models.models.checkpoint import load_checkpoint, save_checkpoint
from vendor_models.models.official import importer
from vendor_models.models.official.options import OfficialReleaseError
from vendor_models.models.text.clip_tower import ClipWeightsError
from vendor_models.motion import model_store

torch.set_num_threads(1)
pytestmark = [pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"official fixture not found at {FIXTURE}"),
              pytest.mark.timeout(600)]
NAME = "fixture-official"
REFERENCE_OUTPUTS = {
    "logits_cond", "logits_uncond", "logits_cfg2", "logits_cond_nopad", "block_out", "pos_enc_zero", "cond_emb_out",
    "vq_decoded_b1", "vq_decoded_b2", "vq_encoded_ids_b1", "vq_encoded_ids_b2", "g1_gen_trace_logits_cfg",
    "g2_gen_trace_logits_cfg", "g1_gen_decoded_normalised", "g1_gen_motion_denormalised", "cliptrans_out",
    "text_feat", "token_ids", "eot_index", "clip_token_features",
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vit_l14_336(tmp_path_factory.mktemp("clip") / "ViT-L-14-336px.pt")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Path:
    models = tmp_path_factory.mktemp("models")
    done = import_fixture(models, clip, NAME)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[5/5]" in done.stdout and "non-commercial" in done.stdout
    return models


def _report(stdout: str) -> dict[str, str]:
    """name → verdict of check-official's lines ``NAME  max error E  VERDICT  NOTE``."""
    return {line.split()[0]: line.split()[4] for line in stdout.splitlines() if "max error" in line}


def test_import_writes_one_complete_model_folder(store: Path) -> None:
    assert [p.name for p in store.iterdir()] == [NAME]               # no staging folder left behind
    folder = store / NAME
    assert {p.name for p in folder.iterdir()} == {"model.json", "transformer.pt", "vq.pt", "text.pt",
                                                   "bpe_simple_vocab_16e6.txt.gz"}
    entry = model_store.find_model(NAME, store)
    assert entry.kind == model_store.OFFICIAL_KIND and entry.non_commercial and "NON-COMMERCIAL" in entry.licence
    assert entry.card["sampler"] == {"steps": 20, "react_steps": 10, "guidance": 2.0, "top_k": 0.9}
    assert entry.card["source"]["clip"]["identity"] == "ViT-L/14@336px"
    assert entry.card["sizes"]["latent_dim"] == 64 and entry.card["sizes"]["nb_code"] == 64
    for name in ("transformer.pt", "vq.pt", "text.pt"):
        ckpt = load_checkpoint(folder / name)
        assert ckpt.train_state is None                                 # optimizer state dropped
        assert all(v.dtype == torch.float32 for v in ckpt.state.values() if v.is_floating_point()), name
    vq = load_checkpoint(folder / "vq.pt")
    assert np.array_equal(vq.mean, np.load(STATS / "global_mean.npy"))
    assert np.array_equal(vq.std, np.load(STATS / "global_std.npy"))
    listed = models_cli("list", models_dir=store)
    assert listed.returncode == 0 and NAME in listed.stdout and "NON-COMMERCIAL" in listed.stdout


def test_check_official_reproduces_every_reference(store: Path) -> None:
    done = models_cli("check-official", str(FIXTURE), "--model", NAME, "--clip", str(FAKE_CLIP_W64), models_dir=store)
    assert done.returncode == 0, done.stdout + done.stderr
    report = _report(done.stdout)
    assert REFERENCE_OUTPUTS <= set(report), sorted(REFERENCE_OUTPUTS - set(report))
    assert all(report[name] == "ok" for name in REFERENCE_OUTPUTS)
    assert report["g1_gen_ids"] == "equal" and report["g2_gen_ids"] == "equal"   # reported, not required
    assert "20 of 20 outputs within tolerance" in done.stdout


def test_check_official_fails_on_one_perturbed_weight(store: Path, tmp_path: Path) -> None:
    shutil.copytree(store / NAME, tmp_path / NAME)
    path = tmp_path / NAME / "transformer.pt"
    ckpt = load_checkpoint(path)
    ckpt.state["blocks.1.cross.kv.weight"][0, 0] += 0.05
    save_checkpoint(path, ckpt)
    done = models_cli("check-official", str(FIXTURE), "--model", NAME, "--clip", str(FAKE_CLIP_W64),
                      models_dir=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = _report(done.stdout)
    assert report["logits_cond"] == "FAIL" and report["g1_gen_trace_logits_cfg"] == "FAIL"
    assert report["text_feat"] == "ok" and "failed: " in done.stdout


def test_check_official_without_the_reference_clip_names_the_width(store: Path) -> None:
    done = models_cli("check-official", str(FIXTURE), "--model", NAME, models_dir=store)
    assert done.returncode == 1 and "768 wide, the reference 64" in done.stdout


# --- refusals ----------------------------------------------------------------------------------------------

def _release(tmp_path: Path) -> Path:
    root = tmp_path / "release"
    shutil.copytree(FIXTURE / "checkpoints", root / "checkpoints")
    return root


def _import(root: Path, clip: Path, store: Path, stats: Path = STATS, name: str = "x") -> importer.ImportResult:
    return importer.import_official(root, clip, stats, name=name, transformer=TRANSFORMER, store=store)


def _refused(tmp_path: Path, error: type[Exception], match: str, **kwargs: object) -> None:
    store = tmp_path / "models"
    store.mkdir(exist_ok=True)
    before = sorted(p.name for p in store.iterdir())
    with pytest.raises(error, match=match):
        _import(store=store, **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in store.iterdir()) == before


@pytest.fixture
def any_file(tmp_path: Path) -> Path:
    """A CLIP path that exists; the refusals below happen before CLIP is read."""
    path = tmp_path / "clip.pt"
    path.write_bytes(b"x")
    return path


def test_a_folder_that_is_not_a_release_says_what_is_missing(tmp_path: Path, any_file: Path) -> None:
    _refused(tmp_path, OfficialReleaseError, r"not an InterMask release: missing checkpoints/interhuman/trans_small/opt.txt",
             root=tmp_path, clip=any_file)
    root = _release(tmp_path)
    shutil.rmtree(root / "checkpoints/interhuman/vq_small")
    _refused(tmp_path, OfficialReleaseError, r"missing checkpoints/interhuman/vq_small/opt.txt, "
             r"checkpoints/interhuman/vq_small/model/best_fid.tar", root=root, clip=any_file)


def test_the_cli_refuses_in_one_line(tmp_path: Path, any_file: Path) -> None:
    done = models_cli("import-official", str(tmp_path), "--clip", str(any_file), "--stats", str(STATS),
                      models_dir=tmp_path / "models")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "missing checkpoints/interhuman/trans_default/opt.txt" in done.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_the_older_vq_variant_is_refused(tmp_path: Path, any_file: Path) -> None:
    root = _release(tmp_path)
    path = root / "checkpoints/interhuman/vq_small/model/best_fid.tar"
    payload = torch.load(path, weights_only=True)
    older = {k: v for k, v in payload["vq_model"].items() if ".gcn_layer" not in k}
    older["encoder.model.0.weight"] = torch.zeros(64, 12, 3, 3)
    torch.save({**payload, "vq_model": older}, path)
    _refused(tmp_path, OfficialReleaseError, "older InterMask VQ-VAE without graph layers", root=root, clip=any_file)


def test_a_truncated_checkpoint_is_refused(tmp_path: Path, any_file: Path) -> None:
    root = _release(tmp_path)
    path = root / "checkpoints/interhuman/trans_small/model/best_fid.tar"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _refused(tmp_path, OfficialReleaseError, "best_fid.tar is not a loadable checkpoint", root=root, clip=any_file)


def test_an_unsupported_option_is_refused(tmp_path: Path, any_file: Path) -> None:
    root = _release(tmp_path)
    opt = root / "checkpoints/interhuman/trans_small/opt.txt"
    lines = opt.read_text().splitlines()
    opt.write_text("\n".join([*lines[:-1], "mystery_switch: True", lines[-1]]) + "\n")
    _refused(tmp_path, OfficialReleaseError, "unknown option.*mystery_switch", root=root, clip=any_file)


@pytest.mark.parametrize(("files", "match"), [
    ({}, "cannot read the statistics file .*global_mean.npy"),
    ({"global_mean.npy": np.zeros(261, np.float32), "global_std.npy": np.ones(262, np.float32)}, r"shape \(261,\)"),
    ({"global_mean.npy": np.zeros(262, np.float32), "global_std.npy": np.zeros(262, np.float32)}, "zero or negative"),
    ({"global_mean.npy": np.zeros(262, np.int64), "global_std.npy": np.ones(262, np.float32)}, "262 finite floats"),
])
def test_missing_or_wrong_stats_are_refused(tmp_path: Path, any_file: Path, files: dict, match: str) -> None:
    stats = tmp_path / "stats"
    stats.mkdir()
    for name, array in files.items():
        np.save(stats / name, array)
    _refused(tmp_path, OfficialReleaseError, match, root=FIXTURE, clip=any_file, stats=stats)


@pytest.mark.parametrize(("state", "match"), [
    (dict(text_width=512), "512-wide text tower, but InterMask's text head needs 768"),
    (dict(vocab_size=1024), "knows 1024 token ids"),
])
def test_a_clip_that_cannot_feed_the_head_is_refused(tmp_path: Path, state: dict, match: str) -> None:
    clip = write_state_dict(tmp_path / "other.pt", fake_clip_state(**state))
    _refused(tmp_path, ClipWeightsError, match, root=FIXTURE, clip=clip)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a CLIP" * 100)
    _refused(tmp_path, ClipWeightsError, "not a readable CLIP file", root=FIXTURE, clip=garbage)
    _refused(tmp_path, ClipWeightsError, "CLIP file not found", root=FIXTURE, clip=tmp_path / "absent.pt")


def test_another_768_wide_clip_is_accepted_with_a_warning(tmp_path: Path) -> None:
    clip = write_state_dict(tmp_path / "ViT-L-14.pt", fake_clip_state(grid=16, vocab_size=49408))
    _, identity, _, warnings = importer.read_clip(clip)
    assert identity == "ViT-L/14" and len(warnings) == 1 and "not OpenAI's CLIP ViT-L/14@336px" in warnings[0]


def test_a_taken_or_invalid_name_is_refused(tmp_path: Path, any_file: Path) -> None:
    (tmp_path / "models" / "x").mkdir(parents=True)
    _refused(tmp_path, model_store.ModelStoreError, "already exists", root=FIXTURE, clip=any_file)
    _refused(tmp_path, model_store.ModelStoreError, "not allowed", root=FIXTURE, clip=any_file, name="../up")


def test_a_failed_write_leaves_nothing(tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer.shutil, "copyfile", disk_full)      # after the weights are written
    _refused(tmp_path, OSError, "No space left", root=FIXTURE, clip=clip)


def test_remove_deletes_a_model_and_names_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.json").write_text('{"name": "old"}')
    done = models_cli("remove", "old", models_dir=tmp_path)
    assert done.returncode == 0 and not (tmp_path / "old").exists() and list(tmp_path.iterdir()) == []
    done = models_cli("remove", "old", models_dir=tmp_path)
    assert done.returncode == 2 and "no model named 'old'" in done.stderr and "Traceback" not in done.stderr
