"""Per-frame 3D hand tracks from a video plan (MediaPipe hand landmarker)."""
