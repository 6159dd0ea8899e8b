"""Ray Tune over the mental-reward learner: search spaces from YAML, trials, exports."""
