"""The renderer service: thumbnails (windowed key image and reformats) and 3D snapshots of a
received series, made on request from `render.requests` and reported on the job event log."""
