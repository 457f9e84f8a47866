"""Reporting: dicts in, text and PNGs out. ``summary`` arranges the stages' metrics,
``markdown`` renders the report's text, ``figures`` draws (the only matplotlib importer),
``writer`` writes the ``reports/`` folder."""
