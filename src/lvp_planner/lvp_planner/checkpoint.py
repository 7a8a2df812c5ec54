"""Load the LVP transformer (Lightning .ckpt or diffusers folder) and the Wan 2.1 I2V components.

The Lightning checkpoint holds `ckpt['state_dict']` with keys `model.<original Wan name>`; those
are renamed to the diffusers layout by diffusers' own converter
(`convert_wan_transformer_to_diffusers`) and loaded into a WanTransformer3DModel of the given
config. Every load refuses missing or unexpected keys, shape mismatches and non-finite weights
(the published checkpoint was reported to carry NaNs in `time_embedding`).
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from transformers import AutoTokenizer, CLIPVisionModel, UMT5EncoderModel

from lvp_planner.models import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    PlannerModels,
    cast_transformer,
)

WAN21_I2V_14B_CONFIG: dict[str, Any] = {
    'patch_size': (1, 2, 2),
    'num_attention_heads': 40,
    'attention_head_dim': 128,
    'in_channels': 36,
    'out_channels': 16,
    'text_dim': 4096,
    'freq_dim': 256,
    'ffn_dim': 13824,
    'num_layers': 40,
    'cross_attn_norm': True,
    'qk_norm': 'rms_norm_across_heads',
    'eps': 1e-6,
    'image_dim': 1280,
    'added_kv_proj_dim': 5120,
    'rope_max_seq_len': 1024,
    'pos_embed_seq_len': None,
}
"""The Wan 2.1 I2V 14B (480p) DiT, which the LVP checkpoint fine-tunes."""

LIGHTNING_MODEL_PREFIX = 'model.'
_MAX_NAMED = 12


class CheckpointError(RuntimeError):
    """A checkpoint or model folder cannot be loaded as the LVP model."""


def _names(keys: list[str]) -> str:
    shown = ', '.join(keys[:_MAX_NAMED])
    more = len(keys) - _MAX_NAMED
    return shown + (f' (and {more} more)' if more > 0 else '')


def find_non_finite(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Return the names of floating-point tensors that hold NaN or infinite values."""
    bad = []
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad.append(name)
    return bad


def check_finite(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError naming every tensor with NaN or infinite values."""
    bad = find_non_finite(state_dict)
    if bad:
        raise CheckpointError(f'{source}: non-finite (NaN/inf) values in {len(bad)} tensor(s): '
                              f'{_names(bad)}')


WAN_COMPONENTS = ('vae', 'text_encoder', 'tokenizer', 'image_encoder')
"""Subfolders of the Wan 2.1 I2V diffusers folder the planner loads besides the transformer."""


LORA_ADAPTER_FILES = ('adapter_config.json', 'adapter_model.safetensors')
LORA_META = 'lvp_lora.json'
"""A LoRA folder written by lvp_finetune: peft's adapter files plus this file naming the base
checkpoint it was trained on (null: the Wan folder's own transformer)."""


def is_lora_folder(path: str | Path) -> bool:
    """Tell whether path is a LoRA adapter folder (peft's adapter_config.json inside)."""
    return (Path(path) / LORA_ADAPTER_FILES[0]).is_file()


def check_checkpoint_path(path: str | Path) -> None:
    """Refuse, without loading it, a checkpoint that is neither a torch.save file nor a folder.

    torch.save writes a zip archive (readable with mmap); anything else (a truncated download,
    a renamed file) gets a message saying so instead of a zip/mmap format error. A folder is a
    diffusers transformer folder or an lvp_finetune LoRA folder.
    """
    path = Path(path)
    if path.is_dir():
        if is_lora_folder(path):
            missing = [n for n in (*LORA_ADAPTER_FILES, LORA_META) if not (path / n).is_file()]
            if missing:
                raise CheckpointError(f'{path} is an incomplete LoRA folder: no {missing}')
            return
        if not (path / 'config.json').is_file():
            raise CheckpointError(f'{path} is not a valid checkpoint: a folder, but not a '
                                  'diffusers transformer folder (no config.json) nor a LoRA '
                                  'folder (no adapter_config.json)')
        return
    if not path.is_file():
        raise CheckpointError(f'checkpoint file not found: {path}')
    if not zipfile.is_zipfile(path):
        with path.open('rb') as f:
            head = f.read(8)
        raise CheckpointError(
            f'{path} is not a valid checkpoint: expected a PyTorch checkpoint written by '
            f'torch.save (a zip archive, e.g. lvp_14B.ckpt) or a diffusers transformer folder; '
            f'the file ({path.stat().st_size} bytes) starts with {head!r} (truncated or not a '
            f'checkpoint?)')


def check_model_files(wan_dir: str | Path, checkpoint: str | Path | None = None) -> None:
    """Check that the Wan folder has every component and the checkpoint is one, loading nothing.

    Cheap (no weights read): run it before slow work that precedes loading the model.
    """
    root = Path(wan_dir)
    if not root.is_dir():
        raise CheckpointError(f'Wan 2.1 I2V folder not found: {root}')
    for name in WAN_COMPONENTS + (('transformer',) if checkpoint is None else ()):
        _subfolder(root, name)
    if checkpoint is not None:
        check_checkpoint_path(checkpoint)
        if is_lora_folder(checkpoint):
            base = lora_base(checkpoint)
            if base is None:
                _subfolder(root, 'transformer')
            else:
                check_checkpoint_path(base)


def lightning_to_original_wan(checkpoint: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Take the original-Wan transformer weights out of a Lightning checkpoint dict.

    Only `state_dict` entries prefixed `model.` are kept (prefix removed); others are ignored.
    """
    state = checkpoint.get('state_dict') if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        keys = list(checkpoint)[:_MAX_NAMED] if isinstance(checkpoint, Mapping) else []
        raise CheckpointError(f'{source}: not a Lightning checkpoint (no "state_dict"; top-level '
                              f'keys: {keys})')
    n = len(LIGHTNING_MODEL_PREFIX)
    weights = {k[n:]: v for k, v in state.items() if k.startswith(LIGHTNING_MODEL_PREFIX)}
    if not weights:
        raise CheckpointError(f'{source}: no "{LIGHTNING_MODEL_PREFIX}*" keys in state_dict')
    return weights


def original_wan_to_diffusers(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename original Wan transformer keys to diffusers names with diffusers' converter."""
    return convert_wan_transformer_to_diffusers(dict(weights))


def load_transformer_state(model: WanTransformer3DModel, state_dict: Mapping[str, torch.Tensor],
                           source: str) -> None:
    """Load a diffusers-named state dict strictly: names, shapes and finiteness are checked."""
    check_finite(state_dict, source)
    expected = model.state_dict()
    ignored = tuple(getattr(model, '_keys_to_ignore_on_load_unexpected', None) or ())
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(k for k in set(state_dict) - set(expected)
                        if not any(p in k for p in ignored))
    mismatched = [f'{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}'
                  for k, v in expected.items() if k in state_dict
                  and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_names(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_names(unexpected)}')
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatch(es): {_names(mismatched)}')
    if problems:
        raise CheckpointError(f'{source} does not fit the transformer config: '
                              + '; '.join(problems))
    model.load_state_dict({k: state_dict[k] for k in expected}, strict=True, assign=True)


def _empty_transformer(config: Mapping[str, Any]) -> WanTransformer3DModel:
    """Build the transformer without allocating weights (they are assigned at load)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        # from_config drops the bookkeeping keys (_class_name, ...) of a saved config.json
        return WanTransformer3DModel.from_config(dict(config))  # type: ignore[return-value]


def load_lightning_transformer(path: str | Path,
                               config: Mapping[str, Any] | None = None,
                               dtype: torch.dtype = torch.float32,
                               trust_pickle: bool = False) -> WanTransformer3DModel:
    """Load the LVP Lightning checkpoint (e.g. lvp_14B.ckpt) into a diffusers transformer.

    config: WanTransformer3DModel keyword arguments (default the Wan 2.1 I2V 14B config).
    The file is memory-mapped; weights are cast to dtype (fp32-only modules stay float32).
    Only tensors and plain containers are unpickled unless trust_pickle is set (a Lightning
    file may carry hyper-parameter objects; unpickling those runs code from the file).
    """
    path = Path(path)
    check_checkpoint_path(path)
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=not trust_pickle, mmap=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f'{path}: holds objects other than tensors ({exc}); if you trust the file, load it '
            f'with trust_pickle=True (lvp_plan --trust-checkpoint-pickle)') from exc
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f'{path}: cannot read as a torch checkpoint: {exc}') from exc
    weights = lightning_to_original_wan(ckpt, str(path))
    check_finite(weights, str(path))
    state = original_wan_to_diffusers(weights)
    model = _empty_transformer(config or WAN21_I2V_14B_CONFIG)
    load_transformer_state(model, state, str(path))
    cast_transformer(model, dtype)
    return model.eval()


def load_diffusers_transformer(path: str | Path,
                               dtype: torch.dtype = torch.float32) -> WanTransformer3DModel:
    """Load a diffusers-format transformer folder (config.json + safetensors), local only."""
    path = Path(path)
    if not (path / 'config.json').is_file():
        raise CheckpointError(f'not a diffusers transformer folder (no config.json): {path}')
    try:
        model = WanTransformer3DModel.from_pretrained(path, torch_dtype=dtype,
                                                      local_files_only=True,
                                                      low_cpu_mem_usage=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f'{path}: cannot load the transformer: {exc}') from exc
    check_finite(dict(model.state_dict()), str(path))
    return model.eval()


def load_transformer(path: str | Path, config: Mapping[str, Any] | None = None,
                     dtype: torch.dtype = torch.float32,
                     trust_pickle: bool = False) -> WanTransformer3DModel:
    """Load a Lightning checkpoint file or a diffusers transformer folder, by what path is."""
    return (load_diffusers_transformer(path, dtype) if Path(path).is_dir()
            else load_lightning_transformer(path, config, dtype, trust_pickle))


def lora_base(lora_dir: str | Path) -> Path | None:
    """The base checkpoint a LoRA folder was trained on (relative to the folder), or None."""
    path = Path(lora_dir) / LORA_META
    try:
        base = json.loads(path.read_text()).get('base_checkpoint')
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f'{path}: cannot read the LoRA metadata: {exc}') from exc
    return None if base is None else Path(lora_dir) / base


def apply_lora(model: WanTransformer3DModel, lora_dir: str | Path) -> WanTransformer3DModel:
    """Merge an lvp_finetune LoRA adapter into the transformer's weights (checked finite)."""
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    lora_dir = Path(lora_dir)
    try:
        config = json.loads((lora_dir / LORA_ADAPTER_FILES[0]).read_text())
        weights = load_file(str(lora_dir / LORA_ADAPTER_FILES[1]))
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f'{lora_dir}: cannot read the LoRA adapter: {exc}') from exc
    check_finite(weights, str(lora_dir))
    fields = set(LoraConfig.__dataclass_fields__)
    try:
        model.add_adapter(LoraConfig(**{k: v for k, v in config.items() if k in fields}))
    except ValueError as exc:
        raise CheckpointError(f'{lora_dir}: the adapter does not fit the transformer: '
                              f'{exc}') from exc
    result = set_peft_model_state_dict(model, weights, adapter_name='default')
    wanted = [k for k in result.missing_keys if 'lora_' in k]
    if wanted or result.unexpected_keys:
        raise CheckpointError(f'{lora_dir}: the adapter does not fit the transformer: '
                              f'missing {_names(wanted)}; unexpected '
                              f'{_names(list(result.unexpected_keys))}')
    model.fuse_lora(lora_scale=1.0)
    model.unload_lora()
    check_finite(dict(model.state_dict()), f'{lora_dir} merged')
    return model


def _subfolder(wan_dir: Path, name: str) -> Path:
    path = wan_dir / name
    if not path.is_dir():
        raise CheckpointError(f'{wan_dir} is not a Wan 2.1 I2V diffusers folder: no {name}/')
    return path


def load_clip_normalisation(wan_dir: str | Path
                            ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Read CLIP mean/std from image_processor/preprocessor_config.json (OpenAI's if absent)."""
    path = Path(wan_dir) / 'image_processor' / 'preprocessor_config.json'
    if not path.is_file():
        return OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    cfg = json.loads(path.read_text())
    mean = tuple(float(v) for v in cfg.get('image_mean', OPENAI_CLIP_MEAN))
    std = tuple(float(v) for v in cfg.get('image_std', OPENAI_CLIP_STD))
    if len(mean) != 3 or len(std) != 3:
        raise CheckpointError(f'{path}: image_mean/image_std must have 3 values, got {mean} {std}')
    return mean, std  # type: ignore[return-value]


def load_planner_models(wan_dir: str | Path, checkpoint: str | Path | None = None,
                        transformer_config: Mapping[str, Any] | None = None,
                        dtype: torch.dtype = torch.float32,
                        trust_pickle: bool = False) -> PlannerModels:
    """Load the LVP transformer from `checkpoint` and the rest from a Wan I2V diffusers folder.

    Without a checkpoint the folder's own transformer/ is used (plain Wan 2.1 I2V, not LVP).
    A Lightning checkpoint is shaped by transformer_config, else by the folder's
    transformer/config.json, else by WAN21_I2V_14B_CONFIG. A LoRA folder (lvp_finetune's) is
    merged into the base it names (else the folder's own transformer/).
    The text encoder is loaded in dtype; the VAE and CLIP in float32. Local files only.
    """
    root = Path(wan_dir)
    check_model_files(root, checkpoint)
    lora = None
    if checkpoint is not None and is_lora_folder(checkpoint):
        lora, checkpoint = checkpoint, lora_base(checkpoint)
    if checkpoint is None:
        transformer = load_diffusers_transformer(_subfolder(root, 'transformer'), dtype)
    else:
        config_file = root / 'transformer' / 'config.json'
        if transformer_config is None and config_file.is_file():
            transformer_config = json.loads(config_file.read_text())
        transformer = load_transformer(checkpoint, transformer_config, dtype, trust_pickle)
    if lora is not None:
        transformer = apply_lora(transformer, lora)
    paths = {name: _subfolder(root, name) for name in WAN_COMPONENTS}
    try:
        vae = AutoencoderKLWan.from_pretrained(paths['vae'], torch_dtype=torch.float32,
                                               local_files_only=True)
        text_encoder = UMT5EncoderModel.from_pretrained(paths['text_encoder'], dtype=dtype,
                                                        local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(paths['tokenizer'], local_files_only=True)
        image_encoder = CLIPVisionModel.from_pretrained(paths['image_encoder'],
                                                        dtype=torch.float32,
                                                        local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f'{root}: cannot load a Wan component: {exc}') from exc
    for name, module in (('vae', vae), ('text_encoder', text_encoder),
                         ('image_encoder', image_encoder)):
        check_finite(dict(module.state_dict()), str(paths[name]))  # type: ignore[union-attr]
    mean, std = load_clip_normalisation(root)
    return PlannerModels(transformer, vae, text_encoder, tokenizer,  # type: ignore[arg-type]
                         image_encoder, mean, std)  # type: ignore[arg-type]
