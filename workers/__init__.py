"""Processes of the pipeline: camera workers, the inference server and their supervisor."""
