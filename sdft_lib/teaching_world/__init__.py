"""The teaching world: a synthetic chat world and a tiny seed model built from scratch."""
