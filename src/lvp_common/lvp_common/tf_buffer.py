"""A ROS-free transform tree: static and latest dynamic frame links, looked up through the tree.

Each child frame has one parent link at a time (as in TF): the child's pose in the parent frame
(`Pose`, p_parent = R @ p_child + t), the message stamp (s) and whether it came from /tf_static.
A lookup target <- source chains the links up to the frames' nearest common ancestor, so it works
in either direction and between sibling branches. Dynamic links keep only their latest value (no
history, no interpolation in time): right for the calibrations and slow frames the nodes ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvp_common.geometry import Pose

_MAX_LISTED_FRAMES = 20
"""Known frames named in a lookup error before the list is cut short."""


class TransformLookupError(LookupError):
    """A transform between two frames is not available (unknown frame, separate trees, loop)."""


@dataclass(frozen=True)
class FrameLink:
    """The pose of `child` in `parent` (metres, quaternion x, y, z, w), stamped in seconds."""

    parent: str
    child: str
    pose: Pose
    stamp: float = 0.0
    static: bool = False


class TransformBuffer:
    """Frame links by child frame; look up the pose of one frame in another."""

    def __init__(self) -> None:
        self._links: dict[str, FrameLink] = {}

    def set_transform(self, parent: str, child: str, pose: Pose, stamp: float = 0.0,
                      static: bool = False) -> bool:
        """Store `child`'s pose in `parent`; return False when it was dropped as out of date.

        A static link always replaces the child's link (a republished calibration corrects the
        old one). A dynamic link replaces it unless the stored link is dynamic and newer. A
        leading '/' of a frame name is dropped.
        """
        # ROS 1 style names ('/base_link') still come from some publishers; TF drops the slash.
        parent, child = parent.removeprefix('/'), child.removeprefix('/')
        if not parent or not child:
            raise ValueError(f'a transform needs both frame names, got parent {parent!r} and '
                             f'child {child!r}')
        if parent == child:
            raise ValueError(f'a frame cannot be its own parent: {child!r}')
        old = self._links.get(child)
        if not static and old is not None and not old.static and stamp < old.stamp:
            return False
        self._links[child] = FrameLink(parent, child, pose, float(stamp), static)
        return True

    def link(self, child: str) -> FrameLink | None:
        """The stored link of `child` to its parent, or None for a root or an unknown frame."""
        return self._links.get(child)

    @property
    def frames(self) -> tuple[str, ...]:
        """Every frame named by a link, as parent or child, sorted."""
        names = set(self._links)
        names.update(link.parent for link in self._links.values())
        return tuple(sorted(names))

    def can_lookup(self, target: str, source: str) -> bool:
        """Whether `lookup(target, source)` would succeed now."""
        try:
            self.lookup(target, source)
        except TransformLookupError:
            return False
        return True

    def lookup(self, target: str, source: str) -> Pose:
        """Return target <- source: the pose of frame `source` in frame `target`.

        p_target = lookup(target, source).transform_points(p_source). Raises
        TransformLookupError naming the missing frames and the frames this buffer knows.
        """
        if target == source:
            return Pose.identity()
        known = set(self.frames)
        missing = [name for name in (target, source) if name not in known]
        if missing:
            what = (f'{missing[0]!r} is not a known frame' if len(missing) == 1 else
                    f'neither {target!r} nor {source!r} is a known frame')
            raise TransformLookupError(f'no transform {target} <- {source}: {what}; '
                                       f'{self._known_frames_text()}')
        source_chain = self._chain_to_root(source)
        in_source_chain = dict(source_chain)
        target_chain = self._chain_to_root(target)
        for ancestor, ancestor_from_target in target_chain:
            ancestor_from_source = in_source_chain.get(ancestor)
            if ancestor_from_source is not None:
                return ancestor_from_target.inverse() @ ancestor_from_source
        raise TransformLookupError(
            f'no transform {target} <- {source}: the frames are in separate trees ({target!r} '
            f'under root {target_chain[-1][0]!r}, {source!r} under root '
            f'{source_chain[-1][0]!r}); {self._known_frames_text()}')

    def _chain_to_root(self, frame: str) -> list[tuple[str, Pose]]:
        """(ancestor, ancestor <- frame) from `frame` itself (identity) up to its root."""
        chain = [(frame, Pose.identity())]
        seen = {frame}
        current, pose = frame, Pose.identity()
        while current in self._links:
            link = self._links[current]
            pose = link.pose @ pose
            current = link.parent
            if current in seen:
                loop = ' -> '.join([name for name, _ in chain] + [current])
                raise TransformLookupError(f'the frame links form a loop: {loop}')
            seen.add(current)
            chain.append((current, pose))
        return chain

    def _known_frames_text(self) -> str:
        frames = self.frames
        if not frames:
            return 'no transforms received yet'
        listed = ', '.join(frames[:_MAX_LISTED_FRAMES])
        more = len(frames) - _MAX_LISTED_FRAMES
        return f'known frames: {listed}' + (f' (and {more} more)' if more > 0 else '')
