"""Automatic differentiation by source transformation: rule tables, transformations, API."""
