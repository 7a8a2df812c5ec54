"""`lvp demo/run/plan` with a real camera and a recorded clip: the options, the observation
and the recorded plan.

The options carry the names of the node parameters they mirror (`--camera-to-base` =
plan_and_execute's `camera_to_base`, `--hfov` = its `default_horizontal_fov_deg`, `--start` /
`--duration` = the demonstration planner's `start_s` / `duration_s`, `--min-detected-fraction`
and `--handedness` = the hand tracking node's). A recorded clip and an observation image of
another size than the plan are fitted to it the same way (`--fit`: letterbox by default, or
crop), with the intrinsics adjusted and a note saying what was done: nothing is cut silently.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from lvp_common.artifacts import CameraIntrinsics, Observation, PlanRequest, VideoPlan
from lvp_common.cli_exit import CliError, ExitCode
from lvp_common.geometry import Pose
from lvp_common.input_files import (
    parse_intrinsics,
    parse_pose,
    read_depth_image,
    read_rgb_image,
)
from lvp_common.video_io import FIT_MODES, FrameFit, frame_fit

from lvp_bringup.embodiments import DEFAULT_EMBODIMENT, embodiment_named

DEFAULT_HORIZONTAL_FOV_DEG = 60.0
"""Field of view assumed for a recorded video or an image without intrinsics (deg)."""

REAL_CAMERA_OPTIONS = ('camera_to_base', 'hfov', 'fit')
"""Options that describe a real camera: refused with the synthetic demonstration, whose camera
is lvp_sim's."""

CLIP_OPTIONS = ('start', 'duration')
"""Options that cut a recorded clip (--plan-video only)."""


def add_real_clip_arguments(p: argparse.ArgumentParser) -> None:
    """The real camera, clip window and hand options of `lvp demo/run/plan`."""
    p.add_argument('--camera-to-base', help='camera optical frame in the robot base: '
                   'x,y,z,qx,qy,qz,qw (m; node parameter camera_to_base; default: lvp_sim\'s '
                   'scene camera pose, ASSUMED)')
    p.add_argument('--hfov', '--default-horizontal-fov-deg', dest='hfov', type=float,
                   help='horizontal field of view of the camera that filmed the clip / image, '
                   f'deg (node parameter default_horizontal_fov_deg; default '
                   f'{DEFAULT_HORIZONTAL_FOV_DEG:g}, ASSUMED); not with --intrinsics')
    p.add_argument('--start', '--start-s', dest='start', type=float,
                   help='recorded clip: start at this time, s (demonstration planner\'s start_s; '
                   'default 0)')
    p.add_argument('--duration', '--duration-s', dest='duration', type=float,
                   help='recorded clip: this many seconds from --start (duration_s; default: to '
                   'the end)')
    p.add_argument('--fit', choices=FIT_MODES,
                   help='a clip or image of another shape than the plan (832x480): letterbox '
                   '(scale to fit, pad: the whole view kept; the default) or crop (scale to '
                   'cover, cut the borders); intrinsics adjusted either way')
    p.add_argument('--min-detected-fraction', type=float,
                   help='the hand must be found in at least this fraction of the plan\'s frames '
                   '(hand tracking node\'s min_detected_fraction; default 0.5)')
    p.add_argument('--handedness', choices=('left', 'right'),
                   help='track this hand; refused when it is not in the clip (node parameter '
                   'handedness; default: the hand covering the clip best)')


def check_real_clip_arguments(args: argparse.Namespace) -> None:
    """Refuse options that do not apply to this plan source, or out of range, naming them."""
    recorded = bool(getattr(args, 'plan_video', None))
    own_camera = recorded or bool(getattr(args, 'image', None))
    given = [name for name in REAL_CAMERA_OPTIONS if getattr(args, name, None) is not None]
    if given and not own_camera:
        raise CliError(ExitCode.INVALID_GOAL, f'{_options(given)}: only for a recorded clip '
                       '(--plan-video) or your own image (lvp run --image): the synthetic '
                       'demonstration is filmed by lvp_sim\'s camera, whose pose and field of '
                       'view are known')
    cut = [name for name in CLIP_OPTIONS if getattr(args, name, None) is not None]
    if cut and not recorded:
        raise CliError(ExitCode.INVALID_GOAL, f'{_options(cut)}: only for a recorded clip '
                       '(--plan-video)')
    if args.hfov is not None and getattr(args, 'intrinsics', None):
        raise CliError(ExitCode.INVALID_GOAL, '--hfov and --intrinsics: give one (the '
                       'intrinsics already fix the field of view)')
    if args.hfov is not None and not 1.0 < args.hfov < 179.0:
        raise CliError(ExitCode.INVALID_GOAL, f'--hfov {args.hfov:g}: expected a horizontal '
                       'field of view in (1, 179) deg')
    if args.start is not None and args.start < 0.0:
        raise CliError(ExitCode.INVALID_GOAL, f'--start {args.start:g}: must be >= 0 s')
    if args.duration is not None and args.duration <= 0.0:
        raise CliError(ExitCode.INVALID_GOAL, f'--duration {args.duration:g}: must be > 0 s '
                       '(leave it out for the rest of the clip)')
    fraction = args.min_detected_fraction
    if fraction is not None and not 0.0 <= fraction <= 1.0:
        raise CliError(ExitCode.INVALID_GOAL, f'--min-detected-fraction {fraction:g}: must '
                       'lie in [0, 1]')


def _options(names: list[str]) -> str:
    return ', '.join('--' + n.replace('_', '-') for n in names)


def default_camera_to_base(embodiment: str) -> Pose:
    """The assumed camera pose: lvp_sim's scene camera of the embodiment's world layout, in the
    robot base frame (0.72 m from the workspace, 40 deg down)."""
    from lvp_sim.world import build_world

    return build_world(embodiment_named(embodiment).world_config()).camera_to_robot_base()


def camera_to_base_from_args(args: argparse.Namespace) -> tuple[Pose, str]:
    """The --camera-to-base pose, else the assumed one; with a note on which."""
    if args.camera_to_base:
        try:
            pose = parse_pose(args.camera_to_base, '--camera-to-base')
        except ValueError as exc:
            raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
        return pose, 'camera pose from --camera-to-base'
    embodiment = getattr(args, 'embodiment', DEFAULT_EMBODIMENT)
    return (default_camera_to_base(embodiment),
            'camera pose ASSUMED: lvp_sim\'s scene camera of the embodiment\'s layout (give the '
            'real one with --camera-to-base x,y,z,qx,qy,qz,qw)')


def _fov(args: argparse.Namespace) -> tuple[float, str]:
    if args.hfov is not None:
        return args.hfov, f'a {args.hfov:g} deg horizontal field of view from --hfov'
    return (DEFAULT_HORIZONTAL_FOV_DEG, f'a {DEFAULT_HORIZONTAL_FOV_DEG:g} deg horizontal field '
            'of view ASSUMED (give the real one with --hfov or --intrinsics)')


@dataclass
class ImageObservation:
    """`lvp run`'s observation at the image's own size, before it is fitted to the plan."""

    observation: Observation
    notes: list[str]


def observation_from_args(args: argparse.Namespace) -> ImageObservation:
    """The `lvp run` observation: --image, --depth, --intrinsics or --hfov, --camera-to-base.

    Raises CliError (INVALID_GOAL) naming the option and the problem.
    """
    notes = []
    try:
        rgb = read_rgb_image(args.image, '--image')
        h, w = rgb.shape[:2]
        depth = read_depth_image(args.depth, '--depth', (w, h)) if args.depth else None
        if args.intrinsics:
            intrinsics = parse_intrinsics(args.intrinsics, w, h)
        else:
            fov, note = _fov(args)
            intrinsics = CameraIntrinsics.from_fov(w, h, fov)
            notes.append(f'observation: {note}')
    except ValueError as exc:  # InputFileError, ArtifactError, GeometryError
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    pose, pose_note = camera_to_base_from_args(args)
    if not args.camera_to_base:
        notes.append(f'observation: {pose_note}')
    return ImageObservation(Observation(rgb=rgb, depth=depth, intrinsics=intrinsics,
                                        camera_to_base=pose), notes)


def fit_observation(observation: Observation, size: tuple[int, int], mode: str
                    ) -> tuple[Observation, str]:
    """The observation fitted to the plan's size (w, h) as the plan's frames were (image, depth
    and intrinsics alike), with a note ('' when it already has that size)."""
    h, w = observation.rgb.shape[:2]
    fit = frame_fit((w, h), size, mode)
    if fit.is_identity:
        return observation, ''
    fitted = _apply_fit(observation, fit)
    return fitted, f'observation image {fit.note()}'


def _apply_fit(observation: Observation, fit: FrameFit) -> Observation:
    depth = None if observation.depth is None else fit.apply(observation.depth,
                                                                  fill=float('nan'))
    intrinsics = None if observation.intrinsics is None else fit.intrinsics(
        observation.intrinsics)
    return replace(observation, rgb=fit.apply(observation.rgb), depth=depth,
                   intrinsics=intrinsics)


def recorded_plan(args: argparse.Namespace) -> VideoPlan:
    """The --plan-video clip (window --start/--duration, --fit) as a recorded-demonstration plan.

    Raises ValueError/OSError for a bad video (the caller reports PLANNER_FAILED).
    """
    from lvp_planner.demonstration import DemonstrationConfig, plan_from_demonstration

    config = DemonstrationConfig(args.plan_video, start_s=args.start or 0.0,
                                 duration_s=args.duration or 0.0, fit=args.fit or 'letterbox')
    return plan_from_demonstration(config, PlanRequest((args.task,), seed=args.seed))


def plan_fit_note(plan: VideoPlan) -> str:
    """What was done to a recorded plan's frames to fit them to the plan size ('' if nothing)."""
    note = plan.metadata.get('frame_fit_note', '')
    return f'plan video {note}' if note else ''


def recorded_observation(args: argparse.Namespace, plan: VideoPlan) -> tuple[Observation,
                                                                             list[str]]:
    """The observation of a recorded plan without --image: its first frame, with the intrinsics
    of the camera that filmed the clip (--hfov at the clip's own size, fitted as the frames
    were) and --camera-to-base; notes say what is given and what ASSUMED."""
    h, w = plan.frames.shape[1:3]
    fov, fov_note = _fov(args)
    source = _source_size(plan) or (w, h)
    fit = frame_fit(source, (w, h), args.fit or 'letterbox')
    intrinsics = fit.intrinsics(CameraIntrinsics.from_fov(source[0], source[1], fov,
                                                          assumed=args.hfov is None))
    pose, pose_note = camera_to_base_from_args(args)
    notes = [f'observation = the recording\'s first frame; no metric depth; {fov_note}; '
             f'{pose_note}']
    observation = Observation(rgb=plan.frames[0], depth=None, intrinsics=intrinsics,
                              camera_to_base=pose)
    return observation, notes


def _source_size(plan: VideoPlan) -> tuple[int, int] | None:
    text = plan.metadata.get('source_size', '')
    try:
        w, h = (int(v) for v in text.split('x'))
    except ValueError:
        return None
    return w, h


def require_task(args: argparse.Namespace, synthetic_sentence: str | None) -> str:
    """The task sentence: --task; a synthetic demonstration's own sentence when not given.

    A recorded clip or a generated plan needs --task: it titles the report and names what the
    hand does (grasping or not); there is no default to mistake for it.
    """
    if args.task:
        return args.task
    if synthetic_sentence is not None:
        return synthetic_sentence
    source = ('a recorded clip (--plan-video)' if getattr(args, 'plan_video', None)
              else 'a plan from the video model (--wan-dir)')
    raise CliError(ExitCode.INVALID_GOAL, f'lvp {args.command}: {source} needs --task "what '
                   'the hand does" (e.g. --task "pick up the cup"): it titles the report and '
                   'tells the robot whether to grasp')
