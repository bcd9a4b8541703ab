"""One module per benchmark; each registers itself with modelatlas.evals.registry."""
