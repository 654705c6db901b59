"""Labeling: review queues, masks, QC and agreement."""
