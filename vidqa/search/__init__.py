"""Search: embedders and the FAISS index over every track's segments, and `find` with pinning."""
