"""Models: builders, training, evaluation, the registry and model cards, explanations."""
