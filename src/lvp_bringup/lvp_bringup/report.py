"""A self-contained HTML report of one `lvp` run: images inline (base64 PNG), videos beside it."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lvp_bringup.pipeline import PipelineResult


@dataclass
class RunSummary:
    """What the command line knows beyond the pipeline result."""

    command: str
    plan_source: str
    plan_source_note: str
    task: str
    status: str
    error: str = ''
    archive_path: str = ''
    task_check: str = ''
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _png(image: np.ndarray) -> str:
    import imageio.v3 as iio

    data = iio.imwrite('<bytes>', np.ascontiguousarray(image), extension='.png')
    return base64.b64encode(data).decode('ascii')


def _figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90, bbox_inches='tight')
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode('ascii')


def contact_sheet(frames: np.ndarray, count: int = 8, columns: int = 4,
                  width: int = 320) -> np.ndarray:
    """Tile `count` evenly spaced frames (T, H, W, 3) into one image, each `width` px wide."""
    import cv2

    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    h, w = frames.shape[1:3]
    height = max(1, round(h * width / w))
    tiles = [cv2.resize(np.ascontiguousarray(frames[k]), (width, height),
                        interpolation=cv2.INTER_AREA) for k in picks]
    for k, tile in zip(picks, tiles):
        cv2.putText(tile, f'#{k}', (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1,
                    cv2.LINE_AA)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def wrist_path_figure(result: PipelineResult):
    """3D plot (base frame, m): raw and smoothed human wrist, EE targets, executed EE."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(7, 5.5))
    ax = fig.add_subplot(projection='3d')
    series = []
    if result.wrist_base_raw is not None:
        series.append(('human wrist, raw', result.wrist_base_raw.positions, 'C7', ':'))
    if result.wrist_base is not None:
        series.append(('human wrist, smoothed', result.wrist_base.positions, 'C0', '-'))
    if result.ee_path is not None:
        series.append(('EE target (mapped)', result.ee_path.positions, 'C2', '--'))
    robot = result.robot
    if result.execution is not None and robot is not None:
        executed = result.execution.executed.positions  # type: ignore[attr-defined]
        series.append(('EE executed (sim)', robot.ee_positions(executed), 'C3', '-'))  # type: ignore
    for label, p, color, style in series:
        ax.plot(p[:, 0], p[:, 1], p[:, 2], style, color=color, label=label)
        ax.scatter(*p[0], color=color, marker='o', s=20)
    close = [e.time for e in result.gripper_events if e.action.value == 'close']
    if close and result.ee_path is not None:
        k = int(np.argmin(np.abs(result.ee_path.times - close[0])))
        ax.scatter(*result.ee_path.positions[k], color='k', marker='x', s=60,
                   label=f'gripper close (t = {close[0]:.2f} s)')
    frame = result.ee_path.frame_id if result.ee_path is not None else 'base'
    ax.set_xlabel(f'x [m] ({frame})')
    ax.set_ylabel('y [m]')
    ax.set_zlabel('z [m]')
    all_p = np.concatenate([s[1] for s in series]) if series else np.zeros((1, 3))
    centre, half = all_p.mean(axis=0), max(0.05, float(np.ptp(all_p, axis=0).max()) / 2 + 0.02)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(max(centre[2] - half, -0.05), centre[2] + half)
    ax.legend(loc='upper left', fontsize=8)
    ax.set_title('wrist path in the robot base frame (o = start)')
    return fig


def joint_figure(result: PipelineResult):
    """Planned (and executed) joint positions over execution time."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    traj = result.trajectory
    assert traj is not None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for j, name in enumerate(traj.joint_names):
        ax.plot(traj.times, traj.positions[:, j], color=f'C{j}', label=name)
        if result.execution is not None:
            ex = result.execution.executed  # type: ignore[attr-defined]
            ax.plot(ex.times, ex.positions[:, j], ':', color=f'C{j}')
    ax.set_xlabel('execution time [s]')
    ax.set_ylabel('joint position [rad]')
    ax.set_title('joint trajectory (solid: planned, dotted: executed in sim)')
    ax.legend(fontsize=7, ncol=2, loc='best')
    ax.grid(alpha=0.3)
    return fig


def hand_command_figure(result: PipelineResult):
    """Gripper aperture/width and events, or Inspire normalized commands, over plan time."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    if result.hand_commands is not None:
        cmd = result.hand_commands
        for a, name in enumerate(cmd.actuator_names):
            ax.plot(cmd.times, cmd.normalized[:, a], label=name)
        ax.set_ylabel('Inspire command (1 = open)')
    else:
        gripper = result.gripper
        if gripper is not None:
            ax.plot(gripper.times, gripper.apertures, label='hand aperture (thumb-index, '  # type: ignore
                    'normalised) [m]')
            ax.plot(gripper.times, gripper.widths, label='continuous gripper width [m]')  # type: ignore
        ax.set_ylabel('metres')
    for e in result.gripper_events:
        ax.axvline(e.time, color='k' if e.action.value == 'close' else 'C3', ls='--')
        ax.text(e.time, ax.get_ylim()[1] * 0.95, f' {e.action.value}', fontsize=8)
    ax.set_xlabel('plan time [s]')
    ax.set_title('hand / gripper commands (dashed: gripper events)')
    ax.legend(fontsize=7, loc='best')
    ax.grid(alpha=0.3)
    return fig


def overlay_images(result: PipelineResult, count: int = 4) -> list[np.ndarray]:
    """A few plan frames with the tracked skeleton drawn."""
    from lvp_hand_tracking.overlay import overlay_frame

    tracking = result.tracking
    if tracking is None or result.plan is None:
        return []
    frames = result.plan.frames
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [overlay_frame(frames[k], int(k), tracking) for k in picks]  # type: ignore[arg-type]


def _img_tag(b64: str, alt: str, width: int | None = None) -> str:
    size = f' width="{width}"' if width else ''
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"{size}>'


def write_report(path: str | Path, summary: RunSummary, result: PipelineResult | None,
                 videos: dict[str, str] | None = None) -> Path:
    """Write the HTML report to `path`; `videos` maps a label to an mp4 file name beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    parts = [
        '<!doctype html><html><head><meta charset="utf-8"><title>lvp run report</title>',
        '<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}'
        'td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}'
        'img{max-width:100%}.err{color:#b00}.note{color:#555}</style></head><body>',
        f'<h1>lvp {esc(summary.command)}: {esc(summary.task)}</h1>',
        f'<p>Plan source: <b>{esc(summary.plan_source)}</b> &mdash; '
        f'{esc(summary.plan_source_note)}</p>',
        f'<p>Status: <b>{esc(summary.status)}</b></p>',
    ]
    if summary.error:
        parts.append(f'<p class="err">{esc(summary.error)}</p>')
    if summary.task_check:
        parts.append(f'<p>{esc(summary.task_check)}</p>')
    if summary.archive_path:
        parts.append(f'<p>Plan archive (rosbag2, MCAP): <code>{esc(summary.archive_path)}</code>'
                     '</p>')
    if result is not None and result.mapping is not None:
        parts.append(f'<p>End-effector mapping: {esc(result.mapping.description)}</p>')
    notes = list(summary.notes) + (list(result.messages) if result is not None else [])
    if notes:
        parts.append('<h2>Notes</h2><ul>' + ''.join(f'<li class="note">{esc(n)}</li>'
                                                    for n in notes) + '</ul>')
    timings = dict(summary.timings)
    if result is not None:
        timings.update(result.timings)
    if timings:
        rows = ''.join(f'<tr><td>{esc(k)}</td><td>{v:.2f}</td></tr>' for k, v in timings.items())
        parts.append(f'<h2>Stage timings</h2><table><tr><th>stage</th><th>s</th></tr>{rows}'
                     f'<tr><td><b>total</b></td><td><b>{sum(timings.values()):.2f}</b></td></tr>'
                     '</table>')
    for label, name in (videos or {}).items():
        parts.append(f'<p>{esc(label)}: <a href="{esc(name)}">{esc(name)}</a></p>'
                     f'<video src="{esc(name)}" controls width="640"></video>')
    if result is not None and result.plan is not None:
        parts.append('<h2>Video plan</h2>' + _img_tag(
            _png(contact_sheet(result.plan.frames)), 'video plan contact sheet'))
    if result is not None:
        overlays = overlay_images(result)
        if overlays:
            parts.append('<h2>Hand track</h2>' + _img_tag(
                _png(contact_sheet(np.stack(overlays), count=len(overlays))), 'hand overlay'))
            tracking = result.tracking
            parts.append(f'<p>hand found in {tracking.frames_with_hand} of '  # type: ignore
                         f'{tracking.num_frames} frames; handedness '  # type: ignore
                         f'{result.hand_track.handedness.value} '  # type: ignore
                         f'({tracking.handedness_source})</p>')  # type: ignore
        if result.wrist_base is not None or result.ee_path is not None:
            parts.append('<h2>Wrist path</h2>' + _img_tag(
                _figure_png(wrist_path_figure(result)), 'wrist path'))
        if result.gripper is not None or result.hand_commands is not None:
            parts.append('<h2>Hand / gripper commands</h2>' + _img_tag(
                _figure_png(hand_command_figure(result)), 'hand commands'))
        if result.trajectory is not None:
            traj = result.trajectory
            parts.append('<h2>Joint trajectory</h2>' + _img_tag(
                _figure_png(joint_figure(result)), 'joints')
                + f'<p>{len(traj.times)} samples, {traj.duration:.2f} s; passed the safety '
                'filter (limits, speed, acceleration, workspace, table)</p>')
        if result.execution is not None:
            ex = result.execution
            parts.append(f'<h2>Simulated execution (MuJoCo)</h2><p>max joint tracking error '
                         f'{ex.max_tracking_error * 1000:.2f} mrad, max EE error '  # type: ignore
                         f'{ex.max_ee_error * 1000:.2f} mm</p>')  # type: ignore
            if len(ex.frames):  # type: ignore[attr-defined]
                parts.append(_img_tag(_png(contact_sheet(ex.frames, count=8)),  # type: ignore
                                      'execution frames'))
    parts.append('</body></html>')
    path.write_text('\n'.join(parts))
    return path
