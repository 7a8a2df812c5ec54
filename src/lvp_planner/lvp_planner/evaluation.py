"""Plan evaluation as in the LVP paper: K plans per prompt, human ratings on four levels, a table.

A prompt set (JSON list) gives each prompt an `id`, a scene `image` (path relative to the file)
and a `task` (one sentence, or a list of sub-task sentences). Optional: `camera_to_base` (x, y, z,
qx, qy, qz, qw: the camera in the robot base frame) and `hfov_deg` for a real scene; for an
lvp_sim scene, `sim_task` (the lvp_sim task it stands for), `sim_seed` and `embodiment` (the
layout the image shows). For each model (checkpoint) K plans are sampled per prompt (seeds
seed .. seed + K - 1) into an evaluation folder:

    plans.json               every video: anonymous id, model, prompt, sample, seed, file
    videos/<id>.mp4          the plans, named by id only (raters do not see the model)
    rating_sheet.html        one card per prompt: image, task, its videos in a shuffled order,
                             a level (0-4) per video, and a button that saves ratings.csv
    auto.json                automatic columns (lvp_eval auto, lvp_bringup.plan_eval): hand
                             found, fit residual, reachable per robot, sim task done

A rating is the highest level the video reaches, the levels being nested as in the paper:
1 correct contact, 2 correct end state, 3 task complete (both, with continuous feasible motion),
4 perfect (no visible artifacts); 0 none. Ratings (CSV `video,level[,rater]` or JSON
{video: level} / [{video, level, rater}]) are read back and summarised per model and level:
Avg = % of rated plans that reach the level; Best@K = % of prompts with at least one plan that
reaches it. With several raters per video, a plan counts the fraction of raters that gave the
level or more.
"""

from __future__ import annotations

import csv
import html
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = ('correct contact', 'correct end state', 'task complete', 'perfect')
LEVEL_HEADERS = ('L1 contact', 'L2 end state', 'L3 task done', 'L4 perfect')
PLANS_FILE = 'plans.json'
SHEET_FILE = 'rating_sheet.html'
AUTO_FILE = 'auto.json'


class EvaluationError(ValueError):
    """A prompt set, evaluation folder or rating file is unusable; the message names it."""


@dataclass(frozen=True)
class EvalPrompt:
    """One prompt of the set: scene image, task sentences and (optional) lvp_sim task."""

    id: str
    image: Path
    prompts: tuple[str, ...]
    sim_task: str = ''
    sim_seed: int = 0
    embodiment: str = ''
    """The robot whose scene the image shows (a sim prompt's layout; '' = any)."""
    camera_to_base: tuple[float, ...] = ()
    """The camera's pose in the robot base frame (x, y, z, qx, qy, qz, qw); () = unknown."""
    hfov_deg: float = 0.0
    """The image's horizontal field of view; 0 = unknown."""


def read_prompt_set(path: str | Path) -> list[EvalPrompt]:
    """Read and check a prompt set JSON file (ids unique, images present, tasks non-empty)."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f'cannot read prompt set {path}: {exc}') from exc
    if not isinstance(rows, list) or not rows:
        raise EvaluationError(f'{path}: expected a non-empty JSON list of prompts')
    out: list[EvalPrompt] = []
    for number, row in enumerate(rows, 1):
        where = f'{path} prompt {number}'
        if not isinstance(row, dict):
            raise EvaluationError(f'{where}: expected an object, got {row!r}')
        task = row.get('task')
        prompts = (task,) if isinstance(task, str) else tuple(task or ())
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise EvaluationError(f'{where}: task must be a sentence or a list of sentences, '
                                  f'got {task!r}')
        image = Path(str(row.get('image', '')))
        image = image if image.is_absolute() else path.parent / image
        if not image.is_file():
            raise EvaluationError(f'{where}: image not found: {image}')
        pid = str(row.get('id') or f'p{number:03d}')
        if any(p.id == pid for p in out):
            raise EvaluationError(f'{where}: id {pid!r} is used twice')
        try:
            pose = tuple(float(v) for v in row.get('camera_to_base') or ())
            hfov = float(row.get('hfov_deg') or 0.0)
            sim_seed = int(row.get('sim_seed') or 0)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f'{where}: camera_to_base, hfov_deg and sim_seed must be '
                                  f'numbers: {exc}') from exc
        if pose and len(pose) != 7:
            raise EvaluationError(f'{where}: camera_to_base needs 7 numbers (x, y, z, qx, qy, '
                                  f'qz, qw; metres, robot base frame), got {len(pose)}')
        if not 0.0 <= hfov < 180.0:
            raise EvaluationError(f'{where}: hfov_deg must lie in (0, 180), got {hfov}')
        out.append(EvalPrompt(pid, image, tuple(p.strip() for p in prompts),
                              str(row.get('sim_task') or ''), sim_seed,
                              str(row.get('embodiment') or ''), pose, hfov))
    return out


def load_plans(root: str | Path) -> list[dict[str, Any]]:
    """Read the evaluation folder's plans.json ([] when it has none yet)."""
    path = Path(root) / PLANS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _video_id(model: str, prompt: str, sample: int) -> str:
    """An id that does not show the model (stable for the same plan)."""
    import hashlib

    return 'v' + hashlib.sha256(f'{model}\0{prompt}\0{sample}'.encode()).hexdigest()[:10]


PlanFn = Callable[[np.ndarray, tuple[str, ...], int], Any]
"""(scene image, task sentences, seed) -> a VideoPlan."""


def generate_plans(plan: PlanFn, prompts: Sequence[EvalPrompt], root: str | Path, model: str,
                   k: int = 4, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Sample k plans per prompt for `model` into root/videos; update plans.json and the sheet.

    A model already in plans.json is replaced (its old videos are removed).
    """
    from lvp_common.input_files import read_rgb_image
    from lvp_common.video_io import write_video

    if k < 1:
        raise EvaluationError(f'k must be >= 1, got {k}')
    if not model:
        raise EvaluationError('give the model a name (it labels its row of the table)')
    root = Path(root)
    (root / 'videos').mkdir(parents=True, exist_ok=True)
    entries = [e for e in load_plans(root) if e['model'] != model]
    for old in {e['video'] for e in load_plans(root)} - {e['video'] for e in entries}:
        (root / old).unlink(missing_ok=True)
    for prompt in prompts:
        image = read_rgb_image(prompt.image, f'prompt {prompt.id} image')
        for sample in range(k):
            if progress is not None:
                progress(f'{model}: {prompt.id} plan {sample + 1}/{k}')
            result = plan(image, prompt.prompts, seed + sample)
            vid = _video_id(model, prompt.id, sample)
            write_video(root / 'videos' / f'{vid}.mp4', result.frames, result.fps)
            entries.append({'id': vid, 'model': model, 'prompt': prompt.id, 'sample': sample,
                            'seed': seed + sample, 'video': f'videos/{vid}.mp4',
                            'image': str(prompt.image.resolve()),
                            'task': list(prompt.prompts), 'sim_task': prompt.sim_task,
                            'sim_seed': prompt.sim_seed, 'embodiment': prompt.embodiment,
                            'camera_to_base': list(prompt.camera_to_base),
                            'hfov_deg': prompt.hfov_deg})
    (root / PLANS_FILE).write_text(json.dumps(entries, indent=1))
    write_rating_sheet(root)
    return entries


_SHEET_CSS = """
body { font-family: sans-serif; margin: 1em; background: #f4f4f4; }
.prompt { background: white; margin-bottom: 1.5em; padding: 0.8em; border-radius: 6px; }
.scene { height: 160px; vertical-align: top; margin-right: 1em; }
.videos { display: flex; flex-wrap: wrap; gap: 0.8em; margin-top: 0.6em; }
.plan { border: 1px solid #ccc; padding: 0.4em; }
.plan video { width: 320px; display: block; }
.plan label { display: block; font-size: 0.85em; }
#status { position: sticky; top: 0; background: #ffd; padding: 0.4em; }
"""

_SHEET_JS = """
const videos = document.querySelectorAll('video');
let loaded = 0;
function status() {
  const rated = document.querySelectorAll('input[type=radio]:checked').length;
  document.getElementById('status').textContent =
    `${loaded} of ${videos.length} videos loaded; ${rated} of ${videos.length} rated`;
}
videos.forEach(v => {
  const done = () => { if (!v.dataset.loaded) { v.dataset.loaded = '1'; loaded++; status(); } };
  if (v.readyState >= 2) done(); else v.addEventListener('loadeddata', done);
});
document.addEventListener('change', status);
function saveRatings() {
  const rater = document.getElementById('rater').value.replace(/[,\\n]/g, ' ');
  let rows = ['video,level,rater'];
  document.querySelectorAll('input[type=radio]:checked').forEach(r =>
    rows.push(`${r.name},${r.value},${rater}`));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([rows.join('\\n') + '\\n'], {type: 'text/csv'}));
  a.download = 'ratings.csv';
  a.click();
}
status();
"""


def write_rating_sheet(root: str | Path, shuffle_seed: int = 0) -> Path:
    """Write rating_sheet.html for plans.json: per prompt, its plans in a shuffled order."""
    root = Path(root)
    entries = load_plans(root)
    if not entries:
        raise EvaluationError(f'{root}: no plans to rate (no {PLANS_FILE}); run generate first')
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        by_prompt[e['prompt']].append(e)
    rng = random.Random(shuffle_seed)
    esc = html.escape
    levels = ''.join(f'<li>{esc(name)}</li>' for name in LEVELS)
    parts = [f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Plan ratings</title>'
             f'<style>{_SHEET_CSS}</style></head><body>',
             '<h1>Rate each video plan</h1>',
             '<p>Give each video the highest level it reaches (levels build on each other; '
             f'0 = none):</p><ol>{levels}</ol>',
             '<p>Rater: <input id="rater" value=""> '
             '<button onclick="saveRatings()">Save ratings.csv</button></p>',
             '<div id="status"></div>']
    for pid, plans in by_prompt.items():
        plans = sorted(plans, key=lambda e: e['id'])
        rng.shuffle(plans)
        first = plans[0]
        image = Path(first['image'])
        src = esc(image.resolve().as_uri()) if image.is_file() else ''
        task = ' then '.join(first['task'])
        parts.append(f'<div class="prompt" id="{esc(pid)}"><h2>{esc(pid)}</h2>'
                     f'<img class="scene" src="{src}" alt="scene"><b>Task:</b> {esc(task)}'
                     f'<div class="videos">')
        for e in plans:
            radios = ''.join(
                f'<label><input type="radio" name="{esc(e["id"])}" value="{level}"> {level} '
                f'{esc(name)}</label>'
                for level, name in enumerate(('none', *LEVELS)))
            parts.append(f'<div class="plan"><video src="{esc(e["video"])}" controls loop muted '
                         f'preload="auto"></video><small>{esc(e["id"])}</small>{radios}</div>')
        parts.append('</div></div>')
    parts.append(f'<script>{_SHEET_JS}</script></body></html>')
    out = root / SHEET_FILE
    out.write_text('\n'.join(parts))
    return out


def read_ratings(path: str | Path, plans: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Read ratings (CSV or JSON) and join them to plans: rows {model, prompt, sample, level}."""
    path = Path(path)
    by_id = {e['id']: e for e in plans}
    try:
        text = path.read_text()
    except OSError as exc:
        raise EvaluationError(f'cannot read ratings {path}: {exc}') from exc
    if path.suffix == '.json':
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EvaluationError(f'{path}: not JSON: {exc}') from exc
        raw = ([{'video': k, 'level': v} for k, v in data.items()] if isinstance(data, dict)
               else data)
    else:
        reader = csv.DictReader(text.splitlines())
        if not {'video', 'level'} <= set(reader.fieldnames or ()):
            raise EvaluationError(f'{path}: the header must name video and level, got '
                                  f'{reader.fieldnames}')
        raw = list(reader)
    rows = []
    for number, r in enumerate(raw, 1):
        vid = str(r.get('video', '')).strip()
        if vid not in by_id:
            raise EvaluationError(f'{path} rating {number}: unknown video {vid!r} (not in '
                                  f'{PLANS_FILE})')
        try:
            level = int(str(r.get('level')).strip())
        except ValueError:
            level = -1
        if not 0 <= level <= len(LEVELS):
            raise EvaluationError(f'{path} rating {number}: level must be 0..{len(LEVELS)}, '
                                  f'got {r.get("level")!r}')
        e = by_id[vid]
        rows.append({'video': vid, 'model': e['model'], 'prompt': e['prompt'],
                     'sample': e['sample'], 'level': level, 'rater': r.get('rater', '')})
    return rows


@dataclass(frozen=True)
class ModelScores:
    """One model's row: Avg and Best@K (percent) per level, prompts, plans rated, K."""

    model: str
    avg: tuple[float, ...]
    best: tuple[float, ...]
    prompts: int
    rated: int
    k: int


def score(ratings: Sequence[dict[str, Any]]) -> list[ModelScores]:
    """Avg and Best@K per level and model (several raters of a plan are averaged)."""
    # plan -> per-level fraction of its raters who gave that level or more
    votes: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for r in ratings:
        votes[(r['model'], r['prompt'], r['sample'])].append(r['level'])
    reach: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for (model, prompt, _), levels in votes.items():
        lv = np.asarray(levels)[:, None]
        reach[model][prompt].append((lv >= np.arange(1, len(LEVELS) + 1)).mean(axis=0))
    out = []
    for model in sorted(reach):
        per_prompt = [np.stack(plans) for plans in reach[model].values()]
        avg = np.concatenate(per_prompt).mean(axis=0) * 100
        best = np.stack([p.max(axis=0) for p in per_prompt]).mean(axis=0) * 100
        out.append(ModelScores(model, tuple(avg.round(1)), tuple(best.round(1)),
                               len(per_prompt), sum(len(p) for p in per_prompt),
                               max(len(p) for p in per_prompt)))
    return out


def format_table(scores: Sequence[ModelScores],
                 auto: dict[str, dict[str, float]] | None = None) -> str:
    """The paper's Table-1 layout: per model, Avg and Best@K for levels 1-4 (percent)."""
    if not scores:
        raise EvaluationError('no ratings to summarise')
    k = max(s.k for s in scores)
    auto_cols = sorted({c for cols in (auto or {}).values() for c in cols})
    width = max(12, *(len(s.model) for s in scores))
    head1 = f'{"":{width}} ' + ' '.join(f'{name:>15}' for name in LEVEL_HEADERS)
    head2 = f'{"model":{width}} ' + ' '.join(f'{"Avg":>7}{f"Best@{k}":>8}' for _ in LEVELS)
    widths = [max(12, len(c)) + 2 for c in auto_cols]
    head2 += f'{"prompts":>9}{"plans":>7}' + ''.join(f'{c:>{w}}' for c, w in zip(auto_cols,
                                                                                  widths))
    lines = [head1.rstrip(), head2]
    for s in scores:
        cells = ' '.join(f'{a:>7.1f}{b:>8.1f}' for a, b in zip(s.avg, s.best))
        extra = ''.join(f'{(auto or {}).get(s.model, {}).get(c, float("nan")):>{w}.1f}'
                        for c, w in zip(auto_cols, widths))
        lines.append(f'{s.model:{width}} {cells}{s.prompts:>9}{s.rated:>7}{extra}')
    return '\n'.join(lines)


def auto_summary(root: str | Path) -> dict[str, dict[str, float]]:
    """Per model, from auto.json ({} when absent): the % of its plans for which each yes/no
    column holds ('hand found %', 'reach <robot> %', 'sim done %') and the median of each
    numeric one ('residual px')."""
    path = Path(root) / AUTO_FILE
    if not path.is_file():
        return {}
    auto = json.loads(path.read_text())
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in load_plans(root):
        for column, value in auto.get(e['id'], {}).items():
            if isinstance(value, bool):
                values[e['model']][f'{column} %'].append(100.0 * value)
            elif isinstance(value, (int, float)) and column != 'hand fraction':
                values[e['model']][column].append(float(value))
    return {model: {column: float(np.mean(v) if column.endswith('%') else np.median(v))
                    for column, v in sorted(cols.items())}
            for model, cols in values.items()}
