"""Django-free QC of lung and heart segmentation masks: codecs, plausibility checks, reference bank, and a
Dice estimate without ground truth. The Django job and commands call `pipeline.qc_mask_set` and `cli`."""
