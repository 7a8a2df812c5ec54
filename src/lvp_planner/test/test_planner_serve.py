"""The Ray Serve planner deployment on a local Ray instance (2 CPUs) with tiny models."""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
from lvp_common.artifacts import PlanRequest
from lvp_planner.sampler import PlanningCancelled, PlanningError, SamplerConfig
from lvp_planner.tiny_models import load_tiny_planner

ray = pytest.importorskip('ray')
serve = pytest.importorskip('ray.serve')

CONFIG = SamplerConfig(num_frames=9, height=32, width=48, num_inference_steps=4,
                       max_text_tokens=8, device='cpu', dtype='float32', model_name='tiny')
APP = 'lvp_planner_test'


@pytest.fixture(scope='module')
def backend():
    from lvp_planner.serve import RayPlannerBackend, build_app

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={'location': 'NoServer'})
        serve.run(build_app(functools.partial(load_tiny_planner, CONFIG), num_replicas=2,
                            num_cpus=1), name=APP, route_prefix=None)
        yield RayPlannerBackend(APP)
    finally:
        serve.shutdown()
        ray.shutdown()


def image() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)


def test_two_concurrent_requests_are_served_by_two_replicas_with_progress(backend):
    results: dict[int, object] = {}
    steps: dict[int, list[tuple[int, int, int]]] = {0: [], 1: []}

    def plan(seed: int) -> None:
        request = PlanRequest(('pick up the cup', 'put it in the bowl'), seed=seed)
        try:
            results[seed] = backend.plan(image(), request,
                                         progress=lambda *s: steps[seed].append(s))
        except Exception as exc:  # reported by the assertion below
            results[seed] = exc

    threads = [threading.Thread(target=plan, args=(seed,)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    plans = [results[0], results[1]]
    assert all(getattr(p, 'frames', None) is not None for p in plans), plans
    assert len({p.metadata['planner_replica'] for p in plans}) == 2  # type: ignore
    for seed, p in enumerate(plans):
        assert p.frames.shape == (17, 32, 48, 3) and p.seed == seed  # type: ignore
        assert steps[seed] == [(c, s, 4) for c in (0, 1) for s in (1, 2, 3, 4)]


def test_cancel_stops_the_replica_which_then_plans_again(backend):
    seen = []
    with pytest.raises(PlanningCancelled):
        backend.plan(image(), PlanRequest(('pick up the cup',)), num_inference_steps=2000,
                     progress=lambda *s: seen.append(s), should_cancel=lambda: len(seen) >= 2)
    assert 2 <= len(seen) < 2000
    plan = backend.plan(image(), PlanRequest(('pick up the cup',), seed=3))
    assert plan.frames.shape == (9, 32, 48, 3)


def test_a_replica_error_reaches_the_client_by_name(backend):
    with pytest.raises(PlanningError,
                       match='replica failed: .*num_inference_steps must be >= 1, got -1'):
        backend.plan(image(), PlanRequest(('pick up the cup',)), num_inference_steps=-1)


@pytest.mark.ros
def test_video_planner_node_plans_on_the_ray_backend(backend, ros_domain_id):
    import rclpy
    from lvp_common.ros.conversions import rgb8_to_image, video_plan_from_msg
    from rclpy.action.client import ActionClient
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from ros_helpers import goal_result, send_goal, spin_until, start_node, stop_node

    from lvp_common import topics
    from lvp_interfaces.action import GenerateVideoPlan

    address = ray.get_runtime_context().gcs_address
    server = start_node('lvp_planner.planner_node',
                        {'backend': 'ray', 'ray_address': address, 'ray_app': APP},
                        ros_domain_id)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    try:
        node = rclpy.create_node('planner_ray_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        client = ActionClient(node, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION)
        assert spin_until(executor, client.server_is_ready, 60.0), 'server never appeared'
        feedback = []
        goal = GenerateVideoPlan.Goal(image=rgb8_to_image(image()), prompts=['pick up the cup'],
                                      seed=2)
        result = goal_result(send_goal(client, executor, goal, feedback.append), executor, 60.0)
        assert result.error_code == GenerateVideoPlan.Result.SUCCESS, result.error_message
        plan = video_plan_from_msg(result.plan)
        assert plan.frames.shape == (9, 32, 48, 3) and plan.seed == 2
        assert plan.metadata['planner_replica']
        assert (feedback[-1].feedback.step, feedback[-1].feedback.num_steps) == (4, 4)
        node.destroy_node()
    finally:
        context.try_shutdown()
        log = stop_node(server)
    assert "planning on ray serve app 'lvp_planner_test'" in log
