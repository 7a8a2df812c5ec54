"""Checkpoint loading: Lightning/original-Wan layout through diffusers' converter, refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from lvp_common.artifacts import PlanRequest
from lvp_planner.checkpoint import (
    WAN21_I2V_14B_CONFIG,
    CheckpointError,
    check_model_files,
    load_diffusers_transformer,
    load_lightning_transformer,
    load_planner_models,
)
from lvp_planner.conditioning import prompt_truncation_notes
from lvp_planner.sampler import VideoPlanner
from lvp_planner.tiny_models import build_tiny_transformer, save_wan_dir

# diffusers name -> original Wan name, written from the Wan module layout (applied in order)
_TO_ORIGINAL = [
    (r'^condition_embedder\.time_embedder\.linear_1\.', 'time_embedding.0.'),
    (r'^condition_embedder\.time_embedder\.linear_2\.', 'time_embedding.2.'),
    (r'^condition_embedder\.time_proj\.', 'time_projection.1.'),
    (r'^condition_embedder\.text_embedder\.linear_1\.', 'text_embedding.0.'),
    (r'^condition_embedder\.text_embedder\.linear_2\.', 'text_embedding.2.'),
    (r'^condition_embedder\.image_embedder\.norm1\.', 'img_emb.proj.0.'),
    (r'^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.', 'img_emb.proj.1.'),
    (r'^condition_embedder\.image_embedder\.ff\.net\.2\.', 'img_emb.proj.3.'),
    (r'^condition_embedder\.image_embedder\.norm2\.', 'img_emb.proj.4.'),
    (r'^scale_shift_table$', 'head.modulation'),
    (r'^proj_out\.', 'head.head.'),
    (r'\.scale_shift_table$', '.modulation'),
    (r'\.attn1\.', '.self_attn.'),
    (r'\.attn2\.', '.cross_attn.'),
    (r'\.to_out\.0\.', '.o.'),
    (r'\.to_q\.', '.q.'),
    (r'\.to_k\.', '.k.'),
    (r'\.to_v\.', '.v.'),
    (r'\.add_k_proj\.', '.k_img.'),
    (r'\.add_v_proj\.', '.v_img.'),
    (r'\.norm_added_k\.', '.norm_k_img.'),
    (r'\.ffn\.net\.0\.proj\.', '.ffn.0.'),
    (r'\.ffn\.net\.2\.', '.ffn.2.'),
    (r'^(blocks\.\d+)\.norm2\.', r'\1.norm3.'),  # the cross-attention norm
]


def to_original_wan(name: str) -> str:
    for pattern, repl in _TO_ORIGINAL:
        name = re.sub(pattern, repl, name)
    return name


def lightning_checkpoint(model: torch.nn.Module) -> dict:
    state = {'model.' + to_original_wan(k): v.clone() for k, v in model.state_dict().items()}
    state['vae.encoder.conv.weight'] = torch.zeros(2)  # other components: ignored
    return {'state_dict': state, 'epoch': 3, 'global_step': 1000}


@pytest.fixture
def tiny_transformer():
    return build_tiny_transformer(seed=7)


@pytest.fixture
def ckpt_path(tmp_path, tiny_transformer):
    path = tmp_path / 'lvp_tiny.ckpt'
    torch.save(lightning_checkpoint(tiny_transformer), path)
    return path


def forward(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 36, 3, 4, 6, generator=g)
    t = torch.tensor([[74.0] * 6 + [500.0] * 12])
    text = torch.randn(1, 8, 16, generator=g)
    image = torch.randn(1, 5, 12, generator=g)
    with torch.no_grad():
        return model(x, t, text, image, return_dict=False)[0]


def test_the_original_layout_keys_look_like_wan(tiny_transformer):
    keys = set(lightning_checkpoint(tiny_transformer)['state_dict'])
    for key in ('model.time_embedding.0.weight', 'model.head.modulation',
                'model.blocks.0.cross_attn.norm_k_img.weight', 'model.blocks.1.norm3.bias',
                'model.img_emb.proj.4.weight', 'model.blocks.0.ffn.2.weight',
                'model.blocks.0.modulation', 'model.blocks.0.self_attn.o.weight'):
        assert key in keys


def test_lightning_checkpoint_loads_to_the_same_model(ckpt_path, tiny_transformer):
    loaded = load_lightning_transformer(ckpt_path, config=tiny_transformer.config)
    expected = tiny_transformer.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert torch.equal(forward(loaded), forward(tiny_transformer))


def test_nan_weights_are_refused_naming_the_tensor(tmp_path, tiny_transformer):
    ckpt = lightning_checkpoint(tiny_transformer)
    ckpt['state_dict']['model.time_embedding.0.weight'][0, 0] = float('nan')
    ckpt['state_dict']['model.blocks.1.ffn.0.bias'][1] = float('inf')
    path = tmp_path / 'nan.ckpt'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match='time_embedding.0.weight') as info:
        load_lightning_transformer(path, config=tiny_transformer.config)
    assert 'blocks.1.ffn.0.bias' in str(info.value) and 'non-finite' in str(info.value)


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny_transformer):
    ckpt = lightning_checkpoint(tiny_transformer)
    del ckpt['state_dict']['model.blocks.1.cross_attn.k_img.weight']
    ckpt['state_dict']['model.blocks.2.self_attn.q.weight'] = torch.zeros(16, 16)
    path = tmp_path / 'bad.ckpt'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as info:
        load_lightning_transformer(path, config=tiny_transformer.config)
    message = str(info.value)
    assert 'missing' in message and 'blocks.1.attn2.add_k_proj.weight' in message
    assert 'unexpected' in message and 'blocks.2.attn1.to_q.weight' in message


def test_shape_mismatch_is_named(ckpt_path, tiny_transformer):
    config = dict(tiny_transformer.config)
    config['ffn_dim'] = 48
    with pytest.raises(CheckpointError, match=r'blocks\.0\.ffn\.net\.0\.proj\.weight \(32, 16\)'):
        load_lightning_transformer(ckpt_path, config=config)


def test_non_lightning_files_are_refused(tmp_path):
    path = tmp_path / 'plain.ckpt'
    torch.save({'weights': torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match='state_dict'):
        load_lightning_transformer(path)
    with pytest.raises(CheckpointError, match='not found'):
        load_lightning_transformer(tmp_path / 'absent.ckpt')
    (tmp_path / 'junk.ckpt').write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='junk.ckpt'):
        load_lightning_transformer(tmp_path / 'junk.ckpt')


class Hyperparameters:
    """Stands for the config object a Lightning module may pickle into its checkpoint."""

    steps = 40


def test_pickled_objects_need_trust(tmp_path, tiny_transformer):
    ckpt = lightning_checkpoint(tiny_transformer)
    ckpt['hyper_parameters'] = Hyperparameters()
    path = tmp_path / 'with_objects.ckpt'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match='trust_pickle'):
        load_lightning_transformer(path, config=tiny_transformer.config)
    model = load_lightning_transformer(path, config=tiny_transformer.config, trust_pickle=True)
    assert torch.equal(forward(model), forward(tiny_transformer))


def test_default_config_is_the_14b_i2v_dit():
    cfg = WAN21_I2V_14B_CONFIG
    assert (cfg['num_layers'], cfg['num_attention_heads']) == (40, 40)
    assert cfg['attention_head_dim'] == 128
    assert (cfg['in_channels'], cfg['image_dim'], cfg['added_kv_proj_dim']) == (36, 1280, 5120)
    assert (cfg['ffn_dim'], cfg['text_dim']) == (13824, 4096)


def test_wan_folder_and_checkpoint_give_the_same_plan(tmp_path, tiny_models, tiny_config,
                                                      scene_image):
    wan_dir = save_wan_dir(tiny_models, tmp_path / 'wan')
    request = PlanRequest(('pick up the cup',), seed=1)
    reference = VideoPlanner(tiny_models, tiny_config).plan(scene_image, request)
    from_dir = VideoPlanner(load_planner_models(wan_dir), tiny_config).plan(scene_image, request)
    assert np.array_equal(from_dir.frames, reference.frames)
    ckpt = tmp_path / 'lvp.ckpt'
    torch.save(lightning_checkpoint(tiny_models.transformer), ckpt)
    # the transformer config comes from wan_dir/transformer/config.json
    models = load_planner_models(wan_dir, checkpoint=ckpt)
    from_ckpt = VideoPlanner(models, tiny_config).plan(scene_image, request)
    assert np.array_equal(from_ckpt.frames, reference.frames)


def test_diffusers_folder_with_nan_is_refused(tmp_path, tiny_transformer):
    with torch.no_grad():
        tiny_transformer.condition_embedder.time_embedder.linear_1.weight[0, 0] = float('nan')
    tiny_transformer.save_pretrained(tmp_path / 'transformer')
    with pytest.raises(CheckpointError, match='time_embedder.linear_1.weight'):
        load_diffusers_transformer(tmp_path / 'transformer')


def test_incomplete_wan_folder_is_refused(tmp_path, tiny_models):
    wan_dir = save_wan_dir(tiny_models, tmp_path / 'wan')
    import shutil

    shutil.rmtree(wan_dir / 'image_encoder')
    with pytest.raises(CheckpointError, match='image_encoder'):
        load_planner_models(wan_dir)
    with pytest.raises(CheckpointError, match='not found'):
        load_planner_models(tmp_path / 'nowhere')


@pytest.mark.parametrize('component', ['vae', 'text_encoder', 'image_encoder'])
def test_nan_in_each_wan_component_is_refused_naming_it(tmp_path, tiny_models, component):
    module = getattr(tiny_models, component)
    name, weight = next((n, p) for n, p in module.named_parameters() if p.ndim >= 2)
    with torch.no_grad():
        weight.view(-1)[3] = float('nan')
    wan_dir = save_wan_dir(tiny_models, tmp_path / 'wan')
    with pytest.raises(CheckpointError, match=rf'{component}: non-finite .* {re.escape(name)}'):
        load_planner_models(wan_dir)


def test_garbage_checkpoint_says_it_is_not_a_checkpoint(tmp_path, tiny_models):
    wan_dir = save_wan_dir(tiny_models, tmp_path / 'wan')
    garbage = tmp_path / 'lvp.ckpt'
    garbage.write_bytes(b'\x80\x02}q\x00 half of a download')
    for load in (lambda: load_lightning_transformer(garbage),
                 lambda: load_planner_models(wan_dir, checkpoint=garbage),
                 lambda: check_model_files(wan_dir, garbage)):
        with pytest.raises(CheckpointError, match='lvp.ckpt is not a valid checkpoint') as info:
            load()
        message = str(info.value)  # torch's own words would be a zip/mmap format error
        assert 'PytorchStreamReader' not in message and 'mmap' not in message
    with pytest.raises(CheckpointError, match='no config.json'):
        check_model_files(wan_dir, tmp_path)
    with pytest.raises(CheckpointError, match='no vae/'):
        check_model_files(tmp_path, garbage)


def test_overlong_prompts_get_a_truncation_note(tiny_models):
    notes = prompt_truncation_notes(tiny_models.tokenizer, ['pick up the cup', 'word ' * 40], 8)
    assert len(notes) == 1
    assert notes[0].startswith('prompt 2 is ') and 'reads the first 8' in notes[0]
    assert prompt_truncation_notes(tiny_models.tokenizer, ['pick up'], 8) == []


def test_lora_folders_are_checked_before_loading(tmp_path, tiny_models):
    wan = save_wan_dir(tiny_models, tmp_path / 'wan')
    lora = tmp_path / 'lora'
    lora.mkdir()
    (lora / 'adapter_config.json').write_text('{}')
    with pytest.raises(CheckpointError, match=r"incomplete LoRA folder: no "
                       r"\['adapter_model.safetensors', 'lvp_lora.json'\]"):
        load_planner_models(wan, lora)
    (lora / 'adapter_model.safetensors').write_bytes(b'')
    (lora / 'lvp_lora.json').write_text('{"base_checkpoint": "../missing.ckpt"}')
    with pytest.raises(CheckpointError, match='checkpoint file not found: .*missing.ckpt'):
        load_planner_models(wan, lora)
    (lora / 'lvp_lora.json').write_text('{"base_checkpoint": null}')
    with pytest.raises(CheckpointError, match='cannot read the LoRA adapter'):
        load_planner_models(wan, lora)
