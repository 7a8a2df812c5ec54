"""Sampler behaviour on tiny random Wan models: shapes, history, timesteps, guidance, chunks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from lvp_common.artifacts import PlanRequest, PlanSource
from lvp_common.video_io import fit_to_size
from lvp_planner.conditioning import clip_pixels
from lvp_planner.sampler import (
    PlanningCancelled,
    PlanningError,
    SamplerConfig,
    VideoPlanner,
    combine_guidance,
    make_scheduler,
)

LATENT_TOKENS_PER_FRAME = (32 // 16) * (48 // 16)  # latent 4x6, patch 2x2


class ForwardRecorder:
    """Record the inputs of every transformer call (forward pre-hook)."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        self.calls: list[dict[str, torch.Tensor]] = []
        self.handle = transformer.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.calls.append({k: kwargs[k].detach().clone() for k in
                           ('hidden_states', 'timestep', 'encoder_hidden_states',
                            'encoder_hidden_states_image')})


def planner_for(models, config: SamplerConfig, **changes) -> VideoPlanner:
    return VideoPlanner(models, replace(config, **changes))


def test_plan_has_the_configured_shape_and_fps(tiny_models, tiny_config, scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    plan = planner.plan(scene_image, PlanRequest(('pick up the red block',), seed=3))
    assert plan.frames.shape == (9, 32, 48, 3)
    assert plan.frames.dtype == np.uint8
    assert plan.fps == 16.0
    assert plan.source is PlanSource.GENERATED
    assert plan.prompts == ('pick up the red block',)
    assert plan.seed == 3 and plan.chunk_starts == (0,) and plan.model == 'tiny'
    assert plan.metadata['num_inference_steps'] == '4'


def test_history_latent_is_exactly_the_input_image_latent(tiny_models, tiny_config,
                                                          scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    samples = planner.sample(scene_image, ['pick up the cup'], seed=0)
    expected = planner.encode_frames(fit_to_size(scene_image, 48, 32)[None])
    latents = samples.chunks[0].latents
    assert expected.shape == (1, 16, 1, 4, 6)
    assert torch.equal(latents[:, :, :1], expected)
    # the future was denoised, not copied from the history
    assert not torch.allclose(latents[:, :, 1], expected[:, :, 0])


@pytest.mark.parametrize('batched', [False, True])
def test_conditional_pass_sees_clean_history_and_zero_image_channels(
        tiny_models, tiny_config, scene_image, batched):
    planner = planner_for(tiny_models, tiny_config, batched_guidance=batched)
    recorder = ForwardRecorder(tiny_models.transformer)
    samples = planner.sample(scene_image, ['pick up the cup'], seed=0)
    history = samples.chunks[0].history_latents
    passes = 1 if batched else 3
    assert len(recorder.calls) == tiny_config.num_inference_steps * passes
    for call in recorder.calls[::passes]:
        hidden = call['hidden_states']
        assert hidden.shape[1] == 36
        assert torch.equal(hidden[:1, :16, :1], history)
        assert torch.count_nonzero(hidden[:, 16:]) == 0


def test_per_token_timesteps_separate_history_from_future(tiny_models, tiny_config,
                                                          scene_image):
    planner = planner_for(tiny_models, tiny_config, batched_guidance=True)
    recorder = ForwardRecorder(tiny_models.transformer)
    planner.sample(scene_image, ['pick up the cup'], seed=0)
    scheduler = make_scheduler(tiny_config)
    scheduler.set_timesteps(tiny_config.num_inference_steps)
    last = float(scheduler.timesteps[-1])
    n_hist = LATENT_TOKENS_PER_FRAME  # one history latent frame
    for call, t in zip(recorder.calls, scheduler.timesteps):
        ts = call['timestep']
        assert ts.shape == (3, 3 * LATENT_TOKENS_PER_FRAME)  # (passes, seq_len)
        # conditional and no-text passes: history at the last step's level, future at t
        for row in ts[:2]:
            assert torch.all(row[:n_hist] == last)
            assert torch.all(row[n_hist:] == float(t))
        # no-history pass: history tokens at the maximum timestep
        assert torch.all(ts[2, :n_hist] == 999.0)
        assert torch.all(ts[2, n_hist:] == float(t))
    assert float(scheduler.timesteps[0]) != last


def test_no_history_pass_replaces_history_with_fresh_noise(tiny_models, tiny_config,
                                                           scene_image):
    planner = planner_for(tiny_models, tiny_config, batched_guidance=True)
    recorder = ForwardRecorder(tiny_models.transformer)
    samples = planner.sample(scene_image, ['pick up the cup'], seed=0)
    history = samples.chunks[0].history_latents
    noises = []
    for call in recorder.calls:
        hidden = call['hidden_states']
        assert torch.equal(hidden[0, :16, 1:], hidden[2, :16, 1:])  # same future
        assert not torch.allclose(hidden[2, :16, :1], history[0])
        noises.append(hidden[2, :16, :1])
    assert not torch.equal(noises[0], noises[1])  # fresh each step


def test_guidance_passes_use_prompt_and_empty_prompt_embeddings(tiny_models, tiny_config,
                                                                scene_image):
    planner = planner_for(tiny_models, tiny_config, batched_guidance=True)
    recorder = ForwardRecorder(tiny_models.transformer)
    planner.sample(scene_image, ['pick up the cup'], seed=0)
    prompt, empty = planner.encode_text(['pick up the cup', ''])
    text = recorder.calls[0]['encoder_hidden_states']
    assert torch.equal(text[0], prompt) and torch.equal(text[2], prompt)
    assert torch.equal(text[1], empty)
    image = recorder.calls[0]['encoder_hidden_states_image']
    assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])


def test_combine_guidance_formula():
    cond, no_text, no_hist = torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([2.0])
    out = combine_guidance(cond, no_text, no_hist, 2.5, 1.5)
    assert torch.allclose(out, torch.tensor([1.0 + 2.5 * 0.5 + 1.5 * -1.0]))
    assert torch.equal(combine_guidance(cond, no_text, no_hist, 0.0, 0.0), cond)


def test_zero_weights_run_the_conditional_pass_alone(tiny_models, tiny_config, scene_image):
    planner = planner_for(tiny_models, tiny_config, text_guidance_scale=0.0,
                          history_guidance_scale=0.0)
    recorder = ForwardRecorder(tiny_models.transformer)
    unguided = planner.sample(scene_image, ['pick up the cup'], seed=0)
    prompt = planner.encode_text(['pick up the cup'])
    assert len(recorder.calls) == tiny_config.num_inference_steps
    for call in recorder.calls:
        assert call['hidden_states'].shape[0] == 1
        assert torch.equal(call['encoder_hidden_states'], prompt)
    recorder.handle.remove()
    guided = planner_for(tiny_models, tiny_config).sample(scene_image, ['pick up the cup'], seed=0)
    assert not torch.allclose(unguided.chunks[0].latents, guided.chunks[0].latents, atol=1e-3)


def test_each_guidance_weight_changes_the_result(tiny_models, tiny_config, scene_image):
    def latents(w_text, w_hist):
        planner = planner_for(tiny_models, tiny_config, text_guidance_scale=w_text,
                              history_guidance_scale=w_hist)
        return planner.sample(scene_image, ['pick up the cup'], seed=0).chunks[0].latents

    base = latents(2.5, 1.5)
    assert not torch.allclose(base, latents(0.0, 1.5), atol=1e-4)
    assert not torch.allclose(base, latents(2.5, 0.0), atol=1e-4)


def test_batched_guidance_equals_sequential(tiny_models, tiny_config, scene_image):
    seq = planner_for(tiny_models, tiny_config, batched_guidance=False)
    a = seq.sample(scene_image, ['pick up the cup'], seed=5)
    bat = planner_for(tiny_models, tiny_config, batched_guidance=True)
    b = bat.sample(scene_image, ['pick up the cup'], seed=5)
    assert torch.allclose(a.chunks[0].latents, b.chunks[0].latents, atol=1e-4, rtol=1e-4)
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 1


def test_same_seed_reproduces_and_other_seed_differs(tiny_models, tiny_config, scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    request = PlanRequest(('pick up the cup',), seed=11)
    a = planner.plan(scene_image, request)
    b = planner.plan(scene_image, request)
    c = planner.plan(scene_image, replace(request, seed=12))
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)


def test_extension_chunks_share_the_boundary_frame(tiny_models, tiny_config, scene_image):
    """Boundary agreement, precisely: chunk 2's history latent is bit-for-bit the VAE latent of
    chunk 1's last decoded frame, so chunk 2's first decoded frame is that frame's VAE round
    trip (within 1 grey level), CLIP of chunk 2 sees that frame, and the plan holds it once."""
    planner = VideoPlanner(tiny_models, tiny_config)
    clip_frames = []
    encode_clip = planner.encode_clip
    planner.encode_clip = lambda frame: (clip_frames.append(frame.copy()),  # type: ignore
                                         encode_clip(frame))[1]
    samples = planner.sample(scene_image, ['pick up the cup', 'put it on the table'], seed=2)
    first, second = samples.chunks
    assert len(samples.chunks) == 2 and second.prompt == 'put it on the table'
    boundary = first.frames[-1]
    expected = planner.encode_frames(boundary[None])
    assert torch.equal(second.history_latents, expected)
    assert torch.equal(second.latents[:, :, :1], expected)
    round_trip = planner.decode_latents(expected)[0]
    assert np.abs(second.frames[0].astype(int) - round_trip.astype(int)).max() <= 1
    assert np.array_equal(clip_frames[1], boundary)
    assert samples.frames.shape[0] == 9 + 8
    assert samples.chunk_starts == (0, 9)
    assert np.array_equal(samples.frames[8], boundary)
    assert np.array_equal(samples.frames[9:], second.frames[1:])
    plan = planner.to_video_plan(samples, ('pick up the cup', 'put it on the table'))
    assert plan.chunk_starts == (0, 9) and plan.num_frames == 17


def test_longer_history_takes_the_previous_chunks_tail(tiny_models, tiny_config, scene_image):
    config = replace(tiny_config, num_frames=13, history_latent_frames=2)
    planner = VideoPlanner(tiny_models, config)
    samples = planner.sample(scene_image, ['pick up the cup', 'put it down'], seed=0)
    first, second = samples.chunks
    assert first.history_latents.shape[2] == 1  # one input image
    assert torch.equal(second.history_latents, planner.encode_frames(first.frames[-5:]))
    assert second.history_pixel_frames == 5
    assert samples.frames.shape[0] == 13 + 8 and samples.chunk_starts == (0, 13)


def test_progress_reports_every_step_of_every_chunk(tiny_models, tiny_config, scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    seen: list[tuple[int, int, int]] = []
    planner.sample(scene_image, ['a', 'b'], seed=0,
                   progress=lambda c, s, n: seen.append((c, s, n)))
    assert seen == [(c, s, 4) for c in range(2) for s in range(1, 5)]


def test_cancellation_stops_between_steps(tiny_models, tiny_config, scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    seen: list[tuple[int, int, int]] = []
    with pytest.raises(PlanningCancelled, match='before step 3'):
        planner.sample(scene_image, ['pick up the cup'], seed=0,
                       progress=lambda c, s, n: seen.append((c, s, n)),
                       should_cancel=lambda: len(seen) >= 2)
    assert seen == [(0, 1, 4), (0, 2, 4)]


def test_per_call_overrides_and_sample_count(tiny_models, tiny_config, scene_image):
    planner = VideoPlanner(tiny_models, tiny_config)
    seen: list[tuple[int, int, int]] = []
    plan = planner.plan(scene_image, PlanRequest(('a',)), num_inference_steps=2,
                        progress=lambda c, s, n: seen.append((c, s, n)))
    assert seen[-1] == (0, 2, 2) and plan.metadata['num_inference_steps'] == '2'
    with pytest.raises(PlanningError, match='3'):
        planner.plan(scene_image, PlanRequest(('a',), num_samples=3))
    plans = planner.plan_samples(scene_image, PlanRequest(('a',), seed=4, num_samples=2),
                                 num_inference_steps=1)
    assert [p.seed for p in plans] == [4, 5]


def test_text_embedding_is_zero_past_the_prompt(tiny_models, tiny_config):
    planner = VideoPlanner(tiny_models, tiny_config)
    emb = planner.encode_text(['pick up the cup', ''])
    assert emb.shape == (2, 8, 16)
    assert torch.count_nonzero(emb[0, 5:]) == 0 and torch.count_nonzero(emb[0, :5]) > 0
    assert torch.count_nonzero(emb[1, 1:]) == 0  # only the eos token


def test_clip_input_squashes_the_whole_frame():
    img = np.zeros((20, 80, 3), np.uint8)
    img[:, :20] = (255, 0, 0)  # a centre crop of the diffusers processor would lose this
    x = clip_pixels(img, 28, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert x.shape == (1, 3, 28, 28)
    assert x[0, 0, :, :5].min() > 0.9 and x[0, 0, :, 9:].max() < 0.1
    y = clip_pixels(img, 28, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert torch.allclose(y, (x - 0.5) / 0.25)


@pytest.mark.parametrize('changes', [{'num_frames': 10}, {'height': 40},
                                     {'history_latent_frames': 3}, {'num_inference_steps': 0}])
def test_config_rejects_bad_values(changes):
    with pytest.raises(ValueError, match=next(iter(changes))):
        SamplerConfig(**{'num_frames': 9, **changes})


@pytest.mark.parametrize('batched', [False, True])
def test_guidance_wiring_with_a_stub_transformer_distinct_per_pass(
        tiny_models, tiny_config, scene_image, monkeypatch, batched):
    # The stub answers 1 to the conditional pass, 3 to the no-text pass and 7 to the
    # no-history pass, so every mix-up of the three outputs changes the guided flow.
    import lvp_planner.sampler as sampler

    planner = planner_for(tiny_models, tiny_config, batched_guidance=batched,
                          text_guidance_scale=2.5, history_guidance_scale=1.5)
    empty = planner.encode_text([tiny_config.negative_prompt])[0]
    noised_history_level = float(tiny_config.num_train_timesteps - 1)
    seen = []

    def stub(hidden_states, timestep, encoder_hidden_states, **_):
        values = []
        for text, levels in zip(encoder_hidden_states, timestep):
            if torch.equal(text, empty):
                values.append(3.0)
            elif float(levels[0]) == noised_history_level:
                values.append(7.0)
            else:
                values.append(1.0)
        seen.append(values)
        out = torch.ones_like(hidden_states[:, :16])
        return (out * torch.tensor(values).view(-1, 1, 1, 1, 1),)

    flows = []

    def recording_scheduler(config):
        scheduler = make_scheduler(config)
        step = scheduler.step

        def record(flow, t, latents, **kwargs):
            flows.append(flow.clone())
            return step(flow, t, latents, **kwargs)

        scheduler.step = record  # type: ignore[method-assign]
        return scheduler

    monkeypatch.setattr(tiny_models.transformer, 'forward', stub)
    monkeypatch.setattr(sampler, 'make_scheduler', recording_scheduler)
    planner.sample(scene_image, ['pick up the cup'], seed=0)
    expected = 1.0 + 2.5 * (1.0 - 3.0) + 1.5 * (1.0 - 7.0)
    assert len(flows) == tiny_config.num_inference_steps
    assert sorted(sum(seen, [])) == sorted([1.0, 3.0, 7.0] * len(flows))
    for flow in flows:
        assert torch.allclose(flow, torch.full_like(flow, expected))
