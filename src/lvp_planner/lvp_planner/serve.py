"""A Ray Serve deployment holding loaded planners, and the client backend the node plans with.

Each replica loads the model once and makes one plan at a time (one replica per GPU); Serve
queues the requests beyond the replicas' capacity and, with max_replicas, scales the replica
count with the queue. A request streams one event per denoising step and then the plan; the
client's should_cancel is polled at every event and cancels the request, which stops the
replica's sampling before its next step. Ray is an optional dependency (requirements/ray.txt).

    ray start --head   # on each GPU machine (the others: ray start --address HEAD:6379)
    python -m lvp_planner.serve --wan-dir Wan2.1-I2V-14B-480P-Diffusers \\
        --checkpoint lvp_14B.ckpt --replicas 8
    video_planner --ros-args -p backend:=ray   # any number of nodes share the replicas
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import PlanRequest, VideoPlan

from lvp_planner.sampler import (
    CancelCheck,
    PlanningCancelled,
    PlanningError,
    ProgressCallback,
    SamplerConfig,
    VideoPlanner,
)

APP_NAME = 'lvp_planner'
DEPLOYMENT_NAME = 'VideoPlannerDeployment'


@dataclass(frozen=True)
class StepEvent:
    """Progress of a request: the replica that serves it and its denoising step."""

    replica: str
    chunk: int
    step: int
    num_steps: int


def _ray() -> tuple[Any, Any]:
    """Import ray and ray.serve, or say how to install them."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise PlanningError('the ray planner backend needs Ray Serve: '
                            'pip install -r requirements/ray.txt') from None
    return ray, serve


class PlannerReplica:
    """The body of a Serve replica: a planner loaded once, one plan at a time."""

    def __init__(self, load: Callable[[], VideoPlanner]) -> None:
        self.planner = load()
        _, serve = _ray()
        self.replica = str(serve.get_replica_context().replica_id.unique_id)

    async def plan(self, image: np.ndarray, request: PlanRequest,
                   overrides: dict[str, Any]) -> AsyncIterator[StepEvent | VideoPlan]:
        """Stream a StepEvent per denoising step, then the VideoPlan."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StepEvent] = asyncio.Queue()
        cancelled = threading.Event()

        def progress(chunk: int, step: int, num_steps: int) -> None:
            event = StepEvent(self.replica, chunk, step, num_steps)
            loop.call_soon_threadsafe(events.put_nowait, event)

        work = loop.run_in_executor(None, functools.partial(
            self.planner.plan, image, request, progress=progress,
            should_cancel=cancelled.is_set, **overrides))
        try:
            while not work.done() or not events.empty():
                next_event = asyncio.ensure_future(events.get())
                await asyncio.wait({next_event, work}, return_when=asyncio.FIRST_COMPLETED)
                if next_event.done():
                    yield next_event.result()
                else:
                    next_event.cancel()
            plan = work.result()
            plan.metadata['planner_replica'] = self.replica
            yield plan
        finally:
            # A cancelled request (or a client gone) stops the sampler before its next step;
            # wait for it so the replica takes its next request only when the model is free.
            cancelled.set()
            await asyncio.shield(asyncio.wait({work}))


def build_app(load: Callable[[], VideoPlanner], num_replicas: int = 1,
              max_replicas: int | None = None, num_gpus: float = 0.0,
              num_cpus: float = 1.0) -> Any:
    """Bind the planner deployment: num_replicas replicas (autoscaled up to max_replicas)."""
    _, serve = _ray()
    if num_replicas < 1:
        raise ValueError(f'num_replicas must be >= 1, got {num_replicas}')
    options: dict[str, Any] = {
        'name': DEPLOYMENT_NAME,
        'max_ongoing_requests': 1,  # one plan at a time per model copy; Serve queues the rest
        'ray_actor_options': {'num_gpus': num_gpus, 'num_cpus': num_cpus},
    }
    if max_replicas is not None and max_replicas > num_replicas:
        options['autoscaling_config'] = {'min_replicas': num_replicas,
                                         'max_replicas': max_replicas,
                                         'target_ongoing_requests': 1}
    else:
        options['num_replicas'] = num_replicas
    return serve.deployment(**options)(PlannerReplica).bind(load)


class RayPlannerBackend:
    """Plan through the Serve deployment, with VideoPlanner.plan's signature."""

    def __init__(self, app_name: str = APP_NAME, address: str = 'auto',
                 config: SamplerConfig | None = None) -> None:
        ray, serve = _ray()
        self.config = config or SamplerConfig()
        self.device = f'ray serve app {app_name!r}'
        try:
            if not ray.is_initialized():
                ray.init(address=address)
            self._handle = serve.get_app_handle(app_name).options(stream=True)
        except Exception as exc:  # Ray raises several kinds for "no such app / no cluster"
            raise PlanningError(f'no Ray Serve app {app_name!r} to plan with: {exc}') from exc

    def plan(self, image: np.ndarray, request: PlanRequest, *,
             num_inference_steps: int | None = None, text_guidance_scale: float | None = None,
             history_guidance_scale: float | None = None,
             progress: ProgressCallback | None = None,
             should_cancel: CancelCheck | None = None) -> VideoPlan:
        """Send the request to a replica and return its plan; progress per replica step."""
        from ray.exceptions import RayError, TaskCancelledError

        overrides = {'num_inference_steps': num_inference_steps,
                     'text_guidance_scale': text_guidance_scale,
                     'history_guidance_scale': history_guidance_scale}
        stream = self._handle.plan.remote(image, request, overrides)
        plan = None
        try:
            for item in stream:
                if isinstance(item, StepEvent):
                    if progress is not None:
                        progress(item.chunk, item.step, item.num_steps)
                    if should_cancel is not None and should_cancel():
                        stream.cancel()
                else:
                    plan = item
        except TaskCancelledError:
            raise PlanningCancelled('cancelled while the replica was planning') from None
        except RayError as exc:
            raise PlanningError(f'the planner replica failed: {_cause(exc)}') from exc
        if not isinstance(plan, VideoPlan):
            raise PlanningError('the planner replica ended its stream without a plan')
        return plan

    def plan_samples(self, image: np.ndarray, request: PlanRequest,
                     **kwargs: Any) -> list[VideoPlan]:
        """Plan request.num_samples seeds one after another (each may go to another replica)."""
        return [self.plan(image, replace(request, seed=request.seed + i, num_samples=1),
                          **kwargs) for i in range(request.num_samples)]


def _cause(exc: BaseException) -> str:
    """The replica-side message of a Ray error (its first line names the exception)."""
    cause = getattr(exc, 'cause', None)
    return str(cause) if cause is not None else str(exc).strip().splitlines()[-1]


def main(argv: Sequence[str] | None = None) -> int:
    """Deploy the planner on the running Ray cluster and keep it served."""
    from lvp_common.cli_exit import CliArgumentParser, CliError, ExitCode, run_cli

    from lvp_planner.cli import load_planner

    p = CliArgumentParser(prog='lvp_planner.serve', description='serve the LVP planner on Ray')
    p.add_argument('--wan-dir', required=True)
    p.add_argument('--checkpoint')
    p.add_argument('--replicas', type=int, default=1, help='replicas, one GPU each')
    p.add_argument('--max-replicas', type=int, help='autoscale up to this many replicas')
    p.add_argument('--address', default='auto', help='Ray cluster address (auto = ray start)')
    p.add_argument('--app-name', default=APP_NAME)
    p.add_argument('--preset', help='speed preset of every replica (e.g. fast)')

    def run(args: argparse.Namespace) -> int:
        ray, serve = _ray()
        from lvp_planner.speed import with_preset

        config = with_preset(SamplerConfig(), args.preset) if args.preset else SamplerConfig()
        load = functools.partial(load_planner, args.wan_dir, args.checkpoint, config)
        try:
            ray.init(address=args.address)
        except ConnectionError as exc:
            raise CliError(ExitCode.PLANNER_FAILED, f'no Ray cluster at {args.address}: {exc} '
                           '(start one with `ray start --head`)') from exc
        gpus = 1.0 if ray.cluster_resources().get('GPU', 0) else 0.0
        serve.run(build_app(load, args.replicas, args.max_replicas, num_gpus=gpus),
                  name=args.app_name, route_prefix=None, blocking=True)
        return 0

    return run_cli(p, argv, run)


if __name__ == '__main__':
    sys.exit(main())
