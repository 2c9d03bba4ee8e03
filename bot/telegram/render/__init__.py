"""Rendering: typed results and alert events -> text (per language) and keyboards."""
