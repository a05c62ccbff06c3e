//! Evaluate: run a program over a dataset and score it (in progress).
