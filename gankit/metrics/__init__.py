"""Measures of generated samples: the domain classifier and the scores built on it."""
