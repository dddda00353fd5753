"""Per-item scores of a transcript against the gold of its item (see `evaluation.scoring.item`)."""
