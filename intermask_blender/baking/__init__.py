"""Baking: clips onto rigs as new actions (``bake``) written through slots/channelbags (``keys``),
the results of a job (``results``) and the temporary stick-figure preview (``preview_figures``).
"""
