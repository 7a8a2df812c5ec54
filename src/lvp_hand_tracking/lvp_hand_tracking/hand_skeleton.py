"""Landmark indices and bones of MediaPipe's 21-keypoint hand (see lvp_common.artifacts)."""

WRIST = 0
THUMB_CMC = 1
INDEX_MCP = 5
MIDDLE_MCP = 9
RING_MCP = 13
LITTLE_MCP = 17

FINGER_CHAINS = (
    (0, 1, 2, 3, 4),
    (0, 5, 6, 7, 8),
    (9, 10, 11, 12),
    (13, 14, 15, 16),
    (0, 17, 18, 19, 20),
)
"""Keypoint chains drawn as the skeleton; the palm outline joins the MCPs (below)."""

HAND_BONES: tuple[tuple[int, int], ...] = tuple(
    (chain[k], chain[k + 1]) for chain in FINGER_CHAINS for k in range(len(chain) - 1)
) + ((INDEX_MCP, MIDDLE_MCP), (MIDDLE_MCP, RING_MCP), (RING_MCP, LITTLE_MCP))
"""Pairs of keypoint indices joined by a line in overlays and RViz markers (21 bones)."""
