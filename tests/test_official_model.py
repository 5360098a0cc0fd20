"""The authors' official release, read into our classes, reproduces the official code's outputs.

The fixture in ../shared/data/official_intermask_fixture is a fake release at small sizes (random
weights) written by the official classes, with reference outputs computed by the official code (see its
README §1, §6, §7): logits, one block, the position code, the text condition, VQ decode/encode (with the
graph-layer quirk at batch 2) and the CFG logits of every step of two complete generations.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from vendor_models.models.checkpoint import save_checkpoint
from vendor_models.models.official.convert import official_to_ours, transformer_config, transformer_from_state
from vendor_models.models.official.options import (
    OfficialReleaseError,
    read_opt_file,
    transformer_options,
    typed_value,
    vq_options,
)
from vendor_models.models.official.reference_check import check_reference
from vendor_models.models.official.release import TRANSFORMER_KEYS, VQ_KEYS, load_release, read_weights
from vendor_models.models.official.vq import ProjectedSAGEConv, vq_from_state
from vendor_models.models.transformer.config import TransformerConfig
from vendor_models.models.transformer.persist import load_transformer, transformer_checkpoint
from vendor_models.motion.skeleton import KINEMATIC_CHAIN, NUM_JOINTS

torch.set_num_threads(1)
FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "official_intermask_fixture"
RELEASE = FIXTURE / "checkpoints" / "interhuman"
TRANS_DIR = RELEASE / "trans_small"
VQ_DIR = RELEASE / "vq_small"

pytestmark = pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"official fixture not found at {FIXTURE}")

MODEL_OUTPUTS = {
    "logits_cond", "logits_uncond", "logits_cfg2", "logits_cond_nopad", "block_out", "pos_enc_zero",
    "cond_emb_out", "vq_decoded_b1", "vq_decoded_b2", "vq_encoded_ids_b1", "vq_encoded_ids_b2",
}
GENERATION_OUTPUTS = {
    "g1_gen_trace_logits_cfg", "g2_gen_trace_logits_cfg", "g1_gen_decoded_normalised", "g1_gen_motion_denormalised",
}


@pytest.fixture(scope="module")
def references() -> dict[str, torch.Tensor]:
    ref = torch.load(FIXTURE / "model_reference.pt", weights_only=True)
    ref.update(torch.load(FIXTURE / "generation_reference.pt", weights_only=True))
    return ref


@pytest.fixture(scope="module")
def stats() -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.from_numpy(np.load(FIXTURE / "FAKE_stats" / f"global_{n}.npy")) for n in ("mean", "std"))  # type: ignore[return-value]


def _failures(results: dict[str, tuple[float, bool]]) -> dict[str, float]:
    return {name: error for name, (error, passed) in results.items() if not passed}


def test_release_reproduces_every_official_output(references, stats) -> None:
    release = load_release(TRANS_DIR)
    results = check_reference(release.transformer, release.vq, references, stats)
    assert MODEL_OUTPUTS | GENERATION_OUTPUTS <= set(results), sorted(MODEL_OUTPUTS | GENERATION_OUTPUTS - set(results))
    assert not _failures(results), _failures(results)
    assert all(results[name][0] == 0 for name in ("vq_encoded_ids_b1", "vq_encoded_ids_b2"))


def test_sizes_come_from_the_opt_files() -> None:
    release = load_release(TRANS_DIR)
    trans, vq = read_opt_file(TRANS_DIR / "opt.txt"), read_opt_file(VQ_DIR / "opt.txt")
    cfg = release.transformer.config
    assert (cfg.num_codes, cfg.token_dim) == (vq["nb_code"], vq["code_dim"])
    assert (cfg.dim, cfg.heads, cfg.layers, cfg.ff) == (trans["latent_dim"], trans["n_heads"], trans["n_layers"], trans["ff_size"])
    assert cfg.official_position_code and cfg.doubled_residual and cfg.text_dim == 768
    assert (release.vq_options.width, release.vq_options.depth) == (vq["width"], vq["depth"])
    assert all(k.startswith(("clipTrans.", "clipln.")) for k in release.text_state) and release.text_state
    assert all(v.dtype == torch.float32 for v in release.text_state.values())   # fixture stores them as fp16


def test_a_perturbed_weight_is_detected(references, stats) -> None:
    release = load_release(TRANS_DIR)
    last = release.transformer.config.layers - 1
    with torch.no_grad():
        release.transformer.get_parameter(f"blocks.{last}.cross.kv.weight")[0, 0] += 0.05
        release.vq.get_parameter("decoder.gcn_layer2.lin_r.weight")[0, 0] += 0.05
    failed = _failures(check_reference(release.transformer, release.vq, references, stats))
    assert {"logits_cond", "logits_cfg2", "g1_gen_trace_logits_cfg", "vq_decoded_b1", "vq_decoded_b2"} <= set(failed)
    assert "cond_emb_out" not in failed and "pos_enc_zero" not in failed


def test_graph_quirk_only_the_first_skeleton_gets_messages(references) -> None:
    """Decoding batch item 1 alone gives it frame-0 messages, which the batch-2 reference lacks."""
    vq = load_release(TRANS_DIR).vq
    codes = references["vq_codes_b2"].reshape(2, 5, -1)
    alone = torch.cat([vq.decode(codes[i:i + 1]) for i in range(2)])
    ref = references["vq_decoded_b2"]
    assert torch.allclose(alone[0], ref[0], atol=1e-4, rtol=1e-5)
    assert not torch.allclose(alone[1], ref[1], atol=1e-4, rtol=1e-5)
    assert torch.allclose(alone[1, 1:], ref[1, 1:], atol=1e-4, rtol=1e-5)   # graph layers come last: only frame 0 differs


def test_graph_is_the_official_chain_edge_list() -> None:
    """Official edges: both directions of every kinematic-chain link, no self loops (= the SMPL tree)."""
    edges = {pair for chain in KINEMATIC_CHAIN for pair in pairwise(chain)}
    expected = torch.zeros(NUM_JOINTS, NUM_JOINTS, dtype=torch.bool)
    for a, b in edges:
        expected[a, b] = expected[b, a] = True
    assert torch.equal(ProjectedSAGEConv(1, 1).adjacency > 0, expected)


def test_typed_values_follow_get_opt() -> None:
    assert [typed_value(v) for v in ("True", "False", "None", "0.0002", "1e-05", "-1", "64", "relu")] == \
        [True, False, "None", 0.0002, "1e-05", -1, 64, "relu"]


def _write_opt(tmp_path: Path, source: Path, changes: dict[str, str]) -> Path:
    lines = source.read_text().splitlines()
    body = dict(line.split(": ", 1) for line in lines[1:-1])
    body.update(changes)
    path = tmp_path / "opt.txt"
    path.write_text("\n".join([lines[0], *(f"{k}: {v}" for k, v in sorted(body.items())), lines[-1]]) + "\n")
    return path


@pytest.mark.parametrize("option, value", [("vq_act", "gelu"), ("vq_norm", "LN"), ("num_quantizers", "2"),
                                           ("dilation_growth_rate", "2"), ("down_t", "3"), ("motion_rep", "global"),
                                           ("vq_dec_inter", "True"), ("mystery", "1")])
def test_unsupported_vq_options_are_refused_by_name(tmp_path: Path, option: str, value: str) -> None:
    with pytest.raises(OfficialReleaseError, match=f"{option} = {value!r}|{option} = {typed_value(value)!r}"):
        vq_options(read_opt_file(_write_opt(tmp_path, VQ_DIR / "opt.txt", {option: value})))


def test_training_options_are_ignored_and_transformer_options_checked(tmp_path: Path) -> None:
    vq = vq_options(read_opt_file(_write_opt(tmp_path, VQ_DIR / "opt.txt", {"lr": "0.5", "batch_size": "3"})))
    assert vq == vq_options(read_opt_file(VQ_DIR / "opt.txt"))
    for option, value in (("force_mask", "True"), ("clip_version", "ViT-B/32"), ("num_tokens", "1024")):
        with pytest.raises(OfficialReleaseError, match=option):
            transformer_options(read_opt_file(_write_opt(tmp_path, TRANS_DIR / "opt.txt", {option: value})), vq)


def test_an_opt_file_without_its_frame_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "opt.txt"
    path.write_text("latent_dim: 64\n")
    with pytest.raises(OfficialReleaseError, match="not an official opt.txt"):
        read_opt_file(path)


def test_older_vq_without_graph_layers_is_refused() -> None:
    vq = vq_options(read_opt_file(VQ_DIR / "opt.txt"))
    state = read_weights(VQ_DIR / "model" / "best_fid.tar", VQ_KEYS)
    older = {k: v for k, v in state.items() if ".gcn_layer" not in k}
    older["encoder.model.0.weight"] = torch.zeros(vq.width, 12, 3, 3)
    older["decoder.model.6.weight"] = torch.zeros(12, vq.width, 3, 3)
    with pytest.raises(OfficialReleaseError, match="older InterMask VQ-VAE without graph layers"):
        vq_from_state(vq, older)
    state.pop("decoder.gcn_layer2.lin_r.weight")
    with pytest.raises(OfficialReleaseError, match="lin_r"):
        vq_from_state(vq, state)


def test_conversion_accounts_for_every_key() -> None:
    vq = vq_options(read_opt_file(VQ_DIR / "opt.txt"))
    trans = transformer_options(read_opt_file(TRANS_DIR / "opt.txt"), vq)
    state = read_weights(TRANS_DIR / "model" / "best_fid.tar", TRANSFORMER_KEYS)
    with pytest.raises(OfficialReleaseError, match="Transformer.blocks.0.extra.weight"):
        official_to_ours({**state, "Transformer.blocks.0.extra.weight": torch.zeros(1)}, transformer_config(trans, vq))
    missing = {k: v for k, v in state.items() if k != "output_process.poseFinal.bias"}
    with pytest.raises(OfficialReleaseError, match=r"unfilled \['head_out.bias'\]"):
        transformer_from_state(trans, vq, missing)


def test_switches_default_off() -> None:
    cfg = TransformerConfig()
    assert not cfg.official_position_code and not cfg.doubled_residual


def test_converted_release_round_trips_through_our_checkpoint_format(tmp_path: Path, references) -> None:
    model = load_release(TRANS_DIR).transformer
    save_checkpoint(tmp_path / "official.pt", transformer_checkpoint(model, "official-clip", meta={}))
    loaded, _, _ = load_transformer(tmp_path / "official.pt")
    assert loaded.config == model.config
    results = check_reference(loaded, None, references)
    assert results and not _failures(results)
