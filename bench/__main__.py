"""`python -m bench` (or `make bench`): run every benchmark at its default size."""

from bench import index_audio, index_images, index_video, photo_costs, query_latency

if __name__ == "__main__":
    index_images.main([])
    photo_costs.main([])
    index_audio.main([])
    index_video.main([])
    query_latency.main([])
