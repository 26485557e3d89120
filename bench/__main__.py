"""`python -m bench` (or `make bench`): run every benchmark at its default size."""

from bench import index_images, query_latency

if __name__ == "__main__":
    index_images.main([])
    query_latency.main([])
