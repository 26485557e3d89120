"""`python -m bench` (or `make bench`): run every benchmark at its default size."""

from bench import index_images

if __name__ == "__main__":
    index_images.main([])
