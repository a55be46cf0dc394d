"""Scoring a world model: held-out evaluation, attention metrics and the HTML report."""
