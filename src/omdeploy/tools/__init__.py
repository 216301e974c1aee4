"""Tools over tasks and runtimes: compare, bench, and the batch runner (folders, video, resumable JSONL)."""
