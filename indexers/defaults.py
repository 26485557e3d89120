"""The indexers' default sizes, in a module that imports nothing: the CLI shows them in its
`--help` without loading numpy or the indexers themselves."""

DEFAULT_CHUNK_TOKENS = 200  # documents: tokens per chunk
DEFAULT_OVERLAP = 40  # documents: tokens shared by neighbouring chunks
DEFAULT_WINDOW_S = 10.0  # sounds: seconds per embedded window
DEFAULT_HOP_S = 5.0  # sounds: seconds between window starts
DEFAULT_FPS = 1.0  # video: frames sampled per second
