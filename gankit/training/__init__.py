"""The training loop and what it keeps: checkpoints, the EMA generator, the run folder."""
