"""Answer extraction and scoring shared by benchmarks."""
