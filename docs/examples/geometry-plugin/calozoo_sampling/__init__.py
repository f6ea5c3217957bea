"""calozoo-sampling: a small layered sampling calorimeter, as a calozoo geometry plugin."""
