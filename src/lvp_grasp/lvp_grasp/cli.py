"""`lvp_grasp CLOUD --contact X Y Z --approach X Y Z --out grasps.json`: rank grasps on a cloud.

Exit status (lvp_common.cli_exit's table): 0 ok, 1 a bad input (named), 6 no grasp found,
64 usage error, 70 internal error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lvp_common.artifacts import ArtifactError, PointCloud
from lvp_common.cli_exit import (
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)
from lvp_common.geometry import GeometryError

from lvp_grasp.antipodal import AntipodalConfig, AntipodalGraspDetector
from lvp_grasp.detector import (
    FirstFoundDetector,
    GraspDetector,
    GraspError,
    GraspRequest,
    plan_grasps,
)
from lvp_grasp.synthetic_scenes import (
    bar_above_table,
    box_on_table,
    cylinder_on_table,
    scene_cloud,
    table,
)
from lvp_grasp.top_face import TopFaceGraspDetector

SYNTHETIC = {'box': box_on_table, 'cylinder': cylinder_on_table, 'bar': bar_above_table}


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of `lvp_grasp`."""
    d = AntipodalConfig()
    p = CliArgumentParser(
        prog='lvp_grasp', description='Antipodal parallel-gripper (Franka Hand) grasps on a '
        'point cloud near the human\'s contact point; poses with z = approach, y = closing.')
    p.add_argument('cloud', help="points (N, 3) metres as .npy/.npz ('points'), .ply/.xyz, or "
                   "'synthetic:box|cylinder|bar|table' (a tabletop scene, z up)")
    p.add_argument('--frame-id', default='base_link', help='frame of the cloud')
    p.add_argument('--contact', type=float, nargs=3, metavar=('X', 'Y', 'Z'),
                   help='the human\'s contact point (default: search the whole cloud)')
    p.add_argument('--approach', type=float, nargs=3, metavar=('X', 'Y', 'Z'),
                   help='the human\'s approach direction')
    p.add_argument('--max-candidates', type=int, default=10)
    p.add_argument('--friction', type=float, default=d.friction_coefficient,
                   help=f'friction coefficient mu (default {d.friction_coefficient})')
    p.add_argument('--num-seeds', type=int, default=d.num_seeds,
                   help=f'seed points sampled (default {d.num_seeds})')
    p.add_argument('--out', type=Path, help='write the ranked grasps here (.json)')
    return p


def load_cloud(source: str, frame_id: str) -> PointCloud:
    """Read a point cloud file, or build a synthetic scene; CliError naming a bad input."""
    if source.startswith('synthetic:'):
        name = source.split(':', 1)[1]
        if name != 'table' and name not in SYNTHETIC:
            raise CliError(ExitCode.INVALID_GOAL, f'unknown synthetic scene {name!r}; choose '
                           f'from {sorted([*SYNTHETIC, "table"])}')
        parts = [table()] + ([SYNTHETIC[name]()] if name in SYNTHETIC else [])
        return scene_cloud(*parts, noise=0.0005, frame_id=frame_id)[0]
    path = Path(source)
    if not path.is_file():
        raise CliError(ExitCode.INVALID_GOAL, f'CLOUD {path}: file not found')
    if path.suffix not in ('.npy', '.npz', '.ply', '.xyz', '.txt'):
        raise CliError(ExitCode.INVALID_GOAL, f'CLOUD {path}: unsupported cloud file (use '
                       '.npy, .npz, .ply or .xyz)')
    try:
        points = _read_points(path)
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or not len(points):
            raise ValueError(f'expected points (N, 3), got {points.shape}')
        if not np.all(np.isfinite(points)):
            raise ValueError(f'{int(np.count_nonzero(~np.isfinite(points).all(axis=1)))} '
                             'point(s) hold NaN or infinite coordinates')
        return PointCloud(points=points, frame_id=frame_id)
    except Exception as exc:  # numpy/trimesh raise many kinds on a broken file
        raise CliError(ExitCode.INVALID_GOAL, f'CLOUD {path}: not a readable point cloud: '
                       f'{exc}') from exc


def _read_points(path: Path) -> np.ndarray:
    """The (N, 3) points of a .npy, .npz ('points'), .ply or .xyz/.txt file."""
    if path.suffix == '.npy':
        if zipfile.is_zipfile(path):
            raise ValueError('an .npz archive renamed .npy')
        return np.load(path, allow_pickle=False)
    if path.suffix == '.npz':
        with np.load(path, allow_pickle=False) as data:
            if 'points' not in data:
                raise ValueError(f"no 'points' array (it holds {list(data.files)})")
            return data['points']
    import trimesh

    if path.suffix == '.ply':
        # A PLY loads as a mesh or a point cloud; both carry `vertices`.
        return np.asarray(trimesh.load(path).vertices)  # pyright: ignore
    return np.loadtxt(path, ndmin=2)[:, :3]


def run(args: argparse.Namespace) -> int:
    """Rank grasps on the cloud named by `args` and print / write them."""
    if args.out is not None:
        check_output_path(args.out, '--out')
    cloud = load_cloud(args.cloud, args.frame_id)
    try:
        request = GraspRequest(
            contact_point=None if args.contact is None else np.array(args.contact),
            approach=None if args.approach is None else np.array(args.approach),
            max_candidates=args.max_candidates)
        detector: GraspDetector = AntipodalGraspDetector(AntipodalConfig(
            friction_coefficient=args.friction, num_seeds=args.num_seeds))
    except (ValueError, ArtifactError, GeometryError) as exc:
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    if request.contact_point is not None:  # top-face grasps need the contact point
        detector = FirstFoundDetector(detector, TopFaceGraspDetector())
    plan = plan_grasps(cloud, detector, request)
    if not plan.candidates:
        raise CliError(ExitCode.GRASP_FAILED, f'no grasp found on the {len(cloud.points)} points '
                       f'of {args.cloud}' + ('' if request.contact_point is None else
                                             f' near the contact point {args.contact}'))
    rows = [{'position': c.pose.position.tolist(), 'quaternion_xyzw': c.pose.quaternion.tolist(),
             'width': c.width, 'depth': c.depth, 'score': c.score} for c in plan.candidates]
    print(f'{len(rows)} grasp(s) on {len(cloud.points)} points in {plan.frame_id}')
    for i, row in enumerate(rows[:5]):
        print(f'  #{i}: position {np.round(row["position"], 3).tolist()} width '
              f'{row["width"]:.3f} m score {row["score"]:.3f}')
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({'frame_id': plan.frame_id, 'candidates': rows},
                                       indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run, {GraspError: ExitCode.GRASP_FAILED,
                                               OSError: ExitCode.ARCHIVE_FAILED})


if __name__ == '__main__':
    raise SystemExit(main())
