"""Sampling across processes with torch.distributed: guidance-parallel and context-parallel.

Every rank runs the whole sampler with the same seed (all noise comes from a CPU generator, so
every rank draws the same noise) and only the transformer's work is shared:
- guidance-parallel: guidance pass j (cond, no_text, no_history) runs on rank j % world_size
  and is broadcast from there; with 3 ranks each pass has its own device.
- context-parallel: each rank takes a contiguous 1 / world_size of the token sequence from
  the first block to the output projection (its tokens' per-token timesteps and rotary
  frequencies with them); self-attention gathers keys and values from all ranks, and the output
  projection is gathered back into the whole sequence. The sequence length (latent frames x
  (h / 2) x (w / 2)) must divide by the world size.
diffusers' own ContextParallelConfig needs one accelerator per rank (it cannot run on CPU ranks
with gloo), so the sharding is done here with collectives that NCCL and gloo both have.
Launch one process per device (torchrun, or torch.multiprocessing) after
torch.distributed.init_process_group.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
from torch.nn import functional

from lvp_planner.models import PlannerModels
from lvp_planner.sampler import PlanningError, SamplerConfig, VideoPlanner, _Pass

MODES = ('guidance', 'context')


def join_torchrun(config: SamplerConfig) -> SamplerConfig:
    """Join the process group torchrun describes; return config on this process's device."""
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise ValueError('parallel sampling runs one process per device under torchrun '
                         '(RANK and WORLD_SIZE are not set)')
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    if config.device in ('auto', 'cuda') and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group('nccl')
        return replace(config, device=f'cuda:{local_rank}')
    dist.init_process_group('gloo')
    return config


class ParallelVideoPlanner(VideoPlanner):
    """A VideoPlanner whose transformer work is shared by the ranks of a process group."""

    def __init__(self, models: PlannerModels, config: SamplerConfig | None = None,
                 mode: str = 'guidance', group: Any = None) -> None:
        if mode not in MODES:
            raise ValueError(f'unknown parallel mode {mode!r}; expected one of {list(MODES)}')
        if not dist.is_initialized():
            raise ValueError('parallel sampling needs torch.distributed.init_process_group '
                             'first (e.g. under torchrun)')
        config = config or SamplerConfig()
        if mode == 'context' and config.cache is not None:
            # Each rank would judge the cache on its own tokens and could skip blocks the
            # others compute, leaving their key/value gathers waiting.
            raise ValueError(f'context-parallel sampling cannot use cache {config.cache!r}')
        super().__init__(models, config)
        self.mode = mode
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self._sequence_split = (SequenceSplit(models.transformer, group)
                                if mode == 'context' else None)

    def close(self) -> None:
        """Remove the context-parallel hooks from the transformer."""
        if self._sequence_split is not None:
            self._sequence_split.remove()
            self._sequence_split = None

    def _forward(self, passes: list[_Pass], image_emb: torch.Tensor | None, batched: bool,
                 step: int = 0, num_steps: int = 1,
                 timestep: float = 0.0) -> list[torch.Tensor]:
        if self.mode == 'context':
            return super()._forward(passes, image_emb, batched, step, num_steps, timestep)
        owners = [j % self.world_size for j in range(len(passes))]
        mine = [p for p, owner in zip(passes, owners) if owner == self.rank]
        computed = iter(super()._forward(mine, image_emb, batched, step, num_steps, timestep))
        outs = []
        for p, owner in zip(passes, owners):
            out = (next(computed).contiguous() if owner == self.rank
                   else torch.empty(p.hidden.shape, dtype=torch.float32, device=self.device))
            dist.broadcast(out, src=dist.get_global_rank(self.group, owner)
                           if self.group is not None else owner, group=self.group)
            outs.append(out)
        return outs


class SequenceSplit:
    """Hooks that split a Wan transformer's token sequence over the ranks of a process group."""

    def __init__(self, transformer: Any, group: Any = None) -> None:
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        blocks = transformer.blocks
        assert isinstance(blocks, torch.nn.ModuleList)
        self._handles = [
            transformer.register_forward_pre_hook(self._split_timestep, with_kwargs=True),
            transformer.get_submodule('rope').register_forward_hook(self._split_rope),
            blocks[0].register_forward_pre_hook(self._split_block_input),
            transformer.get_submodule('proj_out').register_forward_hook(self._gather_output),
        ]
        self._attention: list[Any] = [block.get_submodule('attn1') for block in blocks]
        self._processors = [attn.processor for attn in self._attention]
        for attn in self._attention:
            attn.set_processor(GatheredKVSelfAttention(self))

    def remove(self) -> None:
        """Restore the transformer: remove the hooks and the self-attention processors."""
        for handle in self._handles:
            handle.remove()
        for attn, processor in zip(self._attention, self._processors):
            attn.set_processor(processor)

    def local(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """This rank's contiguous share of x along dim."""
        n = x.shape[dim]
        if n % self.world_size:
            raise PlanningError(f'context-parallel sampling needs a token sequence divisible by '
                                f'{self.world_size} ranks, got {n} tokens')
        size = n // self.world_size
        return x.narrow(dim, self.rank * size, size)

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Concatenate every rank's x along dim, in rank order."""
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(self.world_size)]
        dist.all_gather(parts, x, group=self.group)
        return torch.cat(parts, dim=dim)

    def _split_timestep(self, _module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        timestep = kwargs['timestep']
        if timestep.ndim != 2:
            raise PlanningError('context-parallel sampling needs per-token timesteps '
                                f'(batch, seq_len), got shape {tuple(timestep.shape)}')
        return args, {**kwargs, 'timestep': self.local(timestep, 1)}

    def _split_rope(self, _module: Any, _args: Any, output: tuple) -> tuple:
        return tuple(self.local(freqs, 1) for freqs in output)

    def _split_block_input(self, _module: Any, args: tuple) -> tuple:
        return (self.local(args[0], 1), *args[1:])

    def _gather_output(self, _module: Any, _args: Any, output: torch.Tensor) -> torch.Tensor:
        return self.gather(output, 1)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply Wan's rotary embedding: rotate channel pairs (2i, 2i + 1) of (B, S, H, D)."""
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * c - odd * s
    out[..., 1::2] = even * s + odd * c
    return out.type_as(x)


class GatheredKVSelfAttention:
    """Wan self-attention over local queries and every rank's keys and values."""

    def __init__(self, split: SequenceSplit) -> None:
        self.split = split

    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        heads = attn.heads
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (heads, -1))
        key = attn.norm_k(attn.to_k(hidden_states)).unflatten(2, (heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (heads, -1))
        if rotary_emb is not None:
            query, key = rotate_pairs(query, *rotary_emb), rotate_pairs(key, *rotary_emb)
        key, value = self.split.gather(key, 1), self.split.gather(value, 1)
        out = functional.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2),
            attn_mask=attention_mask)
        out = out.transpose(1, 2).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))
