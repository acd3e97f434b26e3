"""Run launching for the local daemon: runs forked from a warm process (see warm.py)."""
